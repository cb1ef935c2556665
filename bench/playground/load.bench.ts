/**
 * Playground load benchmark (`npm run bench:playground`): what a person
 * waits for after `npm start`.
 *
 * - Build: `vite build` of demo/ (what `npm start` runs first).
 * - Server: from spawning demo/server.ts to its printed address.
 * - Page: from `page.goto` to the page being ready (the runtime's worker
 *   started, IndexedDB opened, `body[data-ready]`), in a fresh Chromium
 *   profile each round (a first visit: nothing cached), against a
 *   baseline in the same rounds: a blank HTML page from the same server.
 *
 * Medians over rounds; nothing asserted on time. Prints a markdown table
 * and writes bench/results/playground.md.
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromiumVersion, launch } from '../../test/browser/chromium.js';
import { median } from '../harness.js';

const root = join(import.meta.dirname, '../..');
const ROUNDS = 7;
const dir = mkdtempSync(join(tmpdir(), 'tidemark-playground-bench-'));
const dist = join(dir, 'dist');

const time = (f: () => void) => {
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

async function startServer(): Promise<{ url: string; ms: number; process: ChildProcess }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/server.ts', '--port', '0', '--data', join(dir, 'data'), '--dist', dist], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /playground: (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${out}`)));
  });
  return { url, ms: performance.now() - t0, process: child };
}

const builds: number[] = [];
const servers: number[] = [];
const pages: number[] = [];
const blanks: number[] = [];
const vite = join(root, 'node_modules/vite/bin/vite.js');
for (let round = 0; round < ROUNDS; round++) {
  builds.push(time(() => execFileSync(process.execPath, [vite, 'build', '--config', 'demo/vite.config.ts', '--outDir', dist, '--emptyOutDir'], { cwd: root, stdio: 'pipe' })));
  writeFileSync(join(dist, 'blank.html'), '<!doctype html><title>blank</title><body data-ready="true">');
  const server = await startServer();
  servers.push(server.ms);
  const chromium = await launch();
  try {
    const page = await chromium.newPage();
    await page.setViewportSize({ width: 1280, height: 800 });
    const load = async (path: string) => {
      const t0 = performance.now();
      await page.goto(`${server.url}${path}`);
      await page.waitForSelector('body[data-ready=true]', { state: 'attached' });
      return performance.now() - t0;
    };
    // Alternate the order, so neither always pays for the warm-up of the browser.
    if (round % 2 === 0) {
      blanks.push(await load('/blank.html'));
      pages.push(await load('/'));
    } else {
      pages.push(await load('/'));
      await page.goto('about:blank');
      blanks.push(await load('/blank.html'));
    }
  } finally {
    await chromium.dispose();
    server.process.kill('SIGTERM');
  }
  rmSync(join(dir, 'data'), { recursive: true, force: true });
}
rmSync(dir, { recursive: true, force: true });

const ms = (v: number) => `${Math.round(v)} ms`;
const page = median(pages);
const blank = median(blanks);
const table = [
  `Playground load (${ROUNDS} rounds, medians; ${cpus().length} cores, ${chromiumVersion()}, fresh profile each round)`,
  '',
  '| Step | Median | Notes |',
  '| --- | ---: | --- |',
  `| \`vite build\` of demo/ | ${ms(median(builds))} | first step of \`npm start\` |`,
  `| server start (file log opened, address printed) | ${ms(median(servers))} | \`tsx demo/server.ts\` |`,
  `| **page ready** (worker started, IndexedDB open, runtime connected) | **${ms(page)}** | goal < 2 000 ms |`,
  `| baseline: blank page from the same server | ${ms(blank)} | page is ${(page / blank).toFixed(1)}× the blank page |`,
  `| **\`npm start\` to a ready page** | **${ms(median(builds) + median(servers) + page)}** | sum of the medians above |`,
].join('\n');
console.log(table);
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/playground.md'), `${table}\n`);
