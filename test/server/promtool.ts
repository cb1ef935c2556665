// `promtool check metrics` (Debian's prometheus package) on a /metrics answer:
// the exposition format parses, and names, units, types and HELP follow
// Prometheus's conventions. Fails, never skips, when promtool is missing.
import { spawn } from 'node:child_process';

const INSTALL =
  'install it (sudo apt-get install -y --no-install-recommends prometheus) or point PROMTOOL at a promtool binary; scripts/test.sh installs it when run as root';

/** What promtool finds wrong with `text` (empty when nothing). */
export function promtoolProblems(text: string): Promise<string> {
  const bin = process.env['PROMTOOL'] ?? 'promtool';
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === 'ENOENT' ? `promtool not found (${bin}): ${INSTALL}` : `promtool could not run: ${err.message}`)),
    );
    child.on('close', (code) => resolve(code === 0 ? '' : out.trim() || `promtool exited with ${code}`));
    child.stdin.end(text);
  });
}
