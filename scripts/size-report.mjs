/**
 * Size report (STYLE.md, habit 7): what real imports of the built package
 * cost a user's bundle. Each entry below is bundled from dist/ with esbuild
 * (minified ESM, tree-shaken as an app bundler would), first with rxjs
 * external (the peer dependency the app already has), then with rxjs bundled
 * in (the total). Prints a table and writes it to bench/results/size.md.
 * It reports only; it exits non-zero when dist/ is missing or a bundle fails.
 *
 * Run after `npm run build`.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, version as esbuildVersion } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');

// What a user writes. `export` keeps the imports alive without running them.
const ENTRIES = [
  {
    name: 'tumbling count',
    code: `export { eventTime, windowBy, tumbling, count, records } from './dist/index.js';`,
  },
  {
    name: '+ createPipeline (snapshots)',
    code: `export { createPipeline, eventTime, windowBy, tumbling, count, records } from './dist/index.js';`,
  },
  { name: 'tidemark (everything)', code: `export * from './dist/index.js';` },
  { name: 'tidemark/testing', code: `export * from './dist/testing.js';` },
  // The browser runtime: the page's entry, and a worker module as a user writes it
  // (serveRuntime + a tumbling count), idb and comlink included.
  { name: 'tidemark/browser (page)', code: `export { createRuntime } from './dist/browser.js';` },
  { name: 'tidemark/worker (serveRuntime alone)', code: `export { serveRuntime } from './dist/worker.js';` },
  {
    name: 'tidemark/worker + tumbling count (worker)',
    code: `export { serveRuntime } from './dist/worker.js'; export { eventTime, windowBy, tumbling, count } from './dist/index.js';`,
  },
  // The edge runtime: a worker module as a user writes it (createEdge + a tumbling count).
  {
    name: 'tidemark/edge + tumbling count (edge worker)',
    code: `export { createEdge } from './dist/edge.js'; export { eventTime, windowBy, tumbling, count } from './dist/index.js';`,
  },
];

for (const file of ['index.js', 'testing.js', 'browser.js', 'worker.js', 'edge.js'])
  if (!existsSync(join(dist, file))) {
    console.error(`size-report: dist/${file} is missing; run \`npm run build\` first`);
    process.exit(1);
  }
warnIfStale();

async function measure(code, name, rxjs) {
  const result = await build({
    stdin: { contents: code, resolveDir: root, sourcefile: `${name}.js`, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    // Both, so that a deep import such as rxjs/operators stays out too.
    external: rxjs === 'external' ? ['rxjs', 'rxjs/*'] : [],
  });
  const bytes = result.outputFiles[0].contents;
  return { min: bytes.length, gz: gzipSync(bytes, { level: 9 }).length };
}

const kB = (n) => `${(n / 1024).toFixed(2)} kB`;
const rows = [];
try {
  for (const { name, code } of ENTRIES) {
    const alone = await measure(code, name, 'external');
    const total = await measure(code, name, 'bundled');
    rows.push([name, kB(alone.min), kB(alone.gz), kB(total.min), kB(total.gz)]);
  }
} catch (err) {
  // esbuild's BuildFailure carries formatted errors (file, line, text).
  console.error(`size-report: bundling failed\n${err?.errors?.map((e) => `  ${e.text}`).join('\n') ?? err}`);
  process.exit(1);
}

const header = ['import', 'min', 'min+gz', 'min (with rxjs)', 'min+gz (with rxjs)'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) =>
  `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
const rule = `|${widths.map((w, i) => `${i === 0 ? ':' : '-'}${'-'.repeat(w)}${i === 0 ? '-' : ':'}`).join('|')}|`;
const table = [line(header), rule, ...rows.map(line)].join('\n');

const pkg = (p) => JSON.parse(readFileSync(join(root, p), 'utf8')).version;
const note =
  `tidemark ${pkg('package.json')}, rxjs ${pkg('node_modules/rxjs/package.json')}, esbuild ${esbuildVersion}: ` +
  'esbuild --bundle --minify --format=esm of dist/, gzip -9.';
console.log(table);
console.log(note);

const out = join(root, 'bench/results/size.md');
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `# Bundle size\n\n${table}\n\n${note}\n`);
console.log(`written to ${relative(root, out)}`);

/** A dist/ older than src/ would report the size of code that no longer exists. */
function warnIfStale() {
  const built = statSync(join(dist, 'index.js')).mtimeMs;
  const newest = (dir) =>
    readdirSync(dir, { withFileTypes: true }).reduce((t, d) => {
      const p = join(dir, d.name);
      return Math.max(t, d.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }, 0);
  if (newest(join(root, 'src')) > built)
    console.error('size-report: warning: src/ changed after the last build; run `npm run build` for current sizes');
}
