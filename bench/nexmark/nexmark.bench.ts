/**
 * Nexmark benchmark (`npm run bench:nexmark`): events/s on one core for q0,
 * q1, q2, q3, q4, q5, q7, q8 and q11, in Node and in a Chromium Web Worker, beside Flink
 * 1.13's published per-core figures.
 *
 * Node runs `measure()` in this process. For Chromium, the same code is
 * bundled by esbuild into a module worker, served from 127.0.0.1, and run in
 * headless Chromium (`CHROME_PATH`, default /usr/bin/chromium) driven by
 * playwright-core; the worker posts its figures back. The table goes to
 * stdout and bench/results/nexmark.md.
 *
 * Options: `--events N` (default 10 000 000), `--rounds N` (5), `--only q5,q7`,
 * `--no-browser`, `--no-node`, `--no-per-event`.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromiumVersion, launch, serve } from '../../test/browser/chromium.js';
import { collectGarbage, formatRate } from '../harness.js';
import { type Measurement, type MeasureOptions, measure } from './measure.js';
import { QUERIES } from './queries.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const value = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? (args[i + 1] as string) : fallback;
};

const options: MeasureOptions = {
  events: Number(value('events', '10000000')),
  rounds: Number(value('rounds', '5')),
  batch: 1_000,
  perEvent: !flag('no-per-event'),
  seed: 1,
  eventsPerSecond: 10_000,
  maxOutOfOrderness: 2_000,
  only: value('only', '')
    .split(',')
    .filter((s) => s.length > 0),
};

/** 10 M events stay in the worker's heap; gc() lets the harness start each comparison clean, as in Node. */
const HEAP_ARGS = ['--js-flags=--expose-gc --max-old-space-size=8192'];

async function inChromium(opts: MeasureOptions): Promise<{ measurement: Measurement; version: string }> {
  const site = await serve({ worker: join(here, 'worker.ts') });
  const context = await launch(HEAP_ARGS);
  const version = chromiumVersion();
  try {
    const page = await context.newPage();
    await page.exposeFunction('nexmarkLog', (line: string) => console.log(`  [${version}] ${line}`));
    await page.goto(site.url);
    const measurement = await page.evaluate(
      (o) =>
        new Promise<Measurement>((resolve, reject) => {
          const w = new Worker('/worker.js', { type: 'module' });
          const log = (globalThis as unknown as { nexmarkLog: (line: string) => void }).nexmarkLog;
          w.onmessage = ({ data }) => {
            if (data.log) log(data.log);
            else if (data.result) resolve(data.result);
            else reject(new Error(data.error));
          };
          w.onerror = (e) => reject(new Error(`worker failed: ${e.message}`));
          w.postMessage(o);
        }),
      opts,
    );
    return { measurement, version };
  } finally {
    await context.dispose();
    await site.close();
  }
}

function table(node: Measurement | undefined, browser: Measurement | undefined, chromiumVersion: string): string {
  const rate = (m: Measurement | undefined, name: string, mode: 'arrays' | 'perEvent') => {
    const v = m?.queries.find((q) => q.name === name)?.[mode];
    return v === undefined ? '–' : formatRate(v);
  };
  const ratio = (m: Measurement | undefined, name: string, flink: number) => {
    const v = m?.queries.find((q) => q.name === name)?.arrays;
    return v === undefined ? '–' : `${Math.round(v / flink)}×`;
  };
  const lines = [
    '| Query | | Node, per event | Node, arrays of 1,000 | Chromium worker, per event | Chromium worker, arrays of 1,000 | Flink 1.13, per core | Node ÷ Flink | Chromium ÷ Flink |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const q of QUERIES) {
    if (options.only.length > 0 && !options.only.includes(q.name)) continue;
    lines.push(
      `| ${q.name} | ${q.what} | ${rate(node, q.name, 'perEvent')} | ${rate(node, q.name, 'arrays')} | ${rate(browser, q.name, 'perEvent')} | ${rate(browser, q.name, 'arrays')} | ${formatRate(q.flinkPerCore)} | ${ratio(node, q.name, q.flinkPerCore)} | ${ratio(browser, q.name, q.flinkPerCore)} |`,
    );
  }
  return [
    `Nexmark, ${options.events.toLocaleString('en-US')} events (${options.eventsPerSecond.toLocaleString('en-US')} events/s of event time, out of order by up to ${options.maxOutOfOrderness} ms), events/s on one core, median of ${options.rounds} alternating rounds.`,
    `Node ${process.version}, ${chromiumVersion ? `${chromiumVersion}, ` : ''}${cpus()[0]?.model ?? 'unknown CPU'}.`,
    '',
    ...lines,
    '',
    'Flink figures: per-core rates of Flink 1.13 published in its nexmark repository (8 cores, Kafka source, 100 M events), not re-measured here.',
    'They include reading from Kafka and (de)serialising every event; these runs read events already in memory and',
    'serialise nothing, so the ratios measure how much work is left in the operators, not a like-for-like engine comparison.',
  ].join('\n');
}

async function main(): Promise<void> {
  let node: Measurement | undefined;
  let browser: Measurement | undefined;
  let chromiumVersion = '';
  if (!flag('no-node')) {
    console.log('Node:');
    node = measure(options, (line) => console.log(`  ${line}`));
    collectGarbage();
  }
  if (!flag('no-browser')) {
    console.log('Chromium worker:');
    const run = await inChromium(options);
    browser = run.measurement;
    chromiumVersion = run.version;
  }
  const text = table(node, browser, chromiumVersion);
  console.log(`\n${text}`);
  const dir = join(here, '..', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'nexmark.md'), `${text}\n`);
}

await main();
