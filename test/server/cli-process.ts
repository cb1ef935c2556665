// The `tidemark` command run as a user runs it: one process per command, from src/ through tsx.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const root = join(import.meta.dirname, '../..');

/**
 * The CLI with `env` added to the environment: `cli(...args)` runs a command
 * to its end; `start(args)` spawns one; `serve(...args)` starts `tidemark
 * serve --port 0` and resolves once it listens; `killAll()` ends every
 * process started (call it in `afterAll`).
 */
export function tidemarkCli(env: Record<string, string> = {}) {
  const children: ChildProcess[] = [];
  const cli = (...args: string[]) =>
    run(process.execPath, ['--import', 'tsx', 'src/server/cli.ts', ...args], { cwd: root, maxBuffer: 64 << 20, env: { ...process.env, ...env } });
  const start = (args: string[], more: Record<string, string> = {}): ChildProcess => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server/cli.ts', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env, ...more },
    });
    children.push(child);
    return child;
  };
  const serve = (...args: string[]): Promise<{ url: string; output: () => string; child: ChildProcess }> => {
    const child = start(['serve', '--port', '0', ...args]);
    let out = '';
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    return new Promise((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /serving (http:\/\/[^/\s]+)\/v1/.exec(out);
        if (m && out.includes('key id')) resolve({ url: m[1]!, output: () => out, child });
      });
      child.once('exit', (code) => reject(new Error(`tidemark serve exited (${code}): ${out}`)));
    });
  };
  const killAll = () => {
    for (const c of children) c.kill('SIGKILL');
  };
  return { cli, start, serve, killAll };
}
