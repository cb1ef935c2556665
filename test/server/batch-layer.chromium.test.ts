// The batch layer end to end, as a user runs it: `tidemark serve --pipeline
// … --reconcile-every 1` (a real process over its file log) and three
// Chromium clients whose pipeline reads its event time from `occurredAt`:
// one offline for a while, one reloaded mid-stream, late and too-late events
// in all. Each client's final view must equal an independent batch
// computation over the events it emitted; corrections are written for exactly
// the windows whose speed value was wrong, none spurious, and once.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, records, tumbling } from '../../src/index.js';
import type { Correction } from '../../src/protocol/wire.js';
import { type Listening, listen, tokenFor } from '../../src/server/index.js';
import { batchWindows, latestPanes, runSync, seededRandom } from '../../src/testing/index.js';
import type { Tm } from '../browser/fixtures/page.js';
import { type Occurred, occurredPipeline } from '../browser/fixtures/scenario.js';
import { openPage, useChromium } from '../browser/setup.js';
import { until } from '../helpers.js';

declare const tm: Tm;
const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'tidemark-batch-layer-'));
const chromium = useChromium();
const LATENESS = 100;

let server: ChildProcess | undefined;
let url = '';
let tokens: Listening | undefined;
let secret = '';

/** The same pipeline as the clients', as a module for `--pipeline`. */
const pipelineModule = `
import { count, eventTime, tumbling, windowBy } from ${JSON.stringify(join(root, 'src/index.ts'))};
export const pipeline = (events$) => events$.pipe(
  eventTime({ timestamp: (e) => e.occurredAt, maxOutOfOrderness: 50 }),
  windowBy({ key: (e) => e.page, window: tumbling(100), aggregate: count(), allowedLateness: ${LATENESS} }),
);
`;

beforeAll(async () => {
  const module = join(dir, 'pipeline.mjs');
  writeFileSync(module, pipelineModule);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/server/cli.ts', 'serve', '--port', '0', '--data', join(dir, 'data'), '--pipeline', module, '--reconcile-every', '1'],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  server = child;
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving (http:\/\/[^/\s]+)\/v1/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`tidemark serve exited (${code}): ${out}`)));
  });
  secret = readFileSync(join(dir, 'data', 'secret'), 'utf8').trim();
  // The app's token route (its login stands here).
  tokens = await listen(
    async (req) =>
      new Response(await tokenFor(secret, new URL(req.url).searchParams.get('clientId') ?? ''), {
        headers: { 'access-control-allow-origin': '*' },
      }),
    { port: 0 },
  );
}, 120_000);

afterAll(async () => {
  server?.kill('SIGKILL');
  await tokens?.close();
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A client's events in emission order: pages /p0–/p3 over ~1.5 s of event
 * time, disorder up to 120 ms (beyond the 50 ms bound: some late within the
 * 100 ms lateness, some dropped), stragglers far behind (too late for the
 * client), then one event 10 s later that makes every window before it final
 * for the client.
 */
function events(seed: number): Occurred[] {
  const rand = seededRandom(seed);
  const out: Occurred[] = [];
  for (let i = 0; i < 600; i++) {
    const t = 1_000 + Math.floor(i * 2.5);
    out.push({ page: `/p${Math.floor(rand() * 4)}`, occurredAt: t - Math.floor(rand() * rand() * 120) });
    if (i % 150 === 149) out.push({ page: '/p0', occurredAt: t - 600 - Math.floor(rand() * 300) });
  }
  out.push({ page: '/close', occurredAt: 20_000 });
  return out;
}

const id = (w: { key: unknown; start: number; end: number }) => `${String(w.key)}|${w.start}|${w.end}`;
/** The client's watermark after all its events: newest - bound - 1. */
const watermarkOf = (evs: readonly Occurred[]) => Math.max(...evs.map((e) => e.occurredAt)) - 50 - 1;

describe('the batch layer beside ingest (tidemark serve --pipeline --reconcile-every)', () => {
  it('every client ends with the batch answer over what it emitted; corrections exactly where the speed value was wrong, once', async () => {
    const clients = [
      { name: 'offline', events: events(1) },
      { name: 'reload', events: events(2) },
      { name: 'plain', events: events(3) },
    ];
    const opts = { server: url, tokens: tokens!.url };
    const ids: string[] = [];
    for (const c of clients) {
      let page = await openPage(chromium.context, chromium.site);
      const query = `name=${c.name}&kind=occurred&correctionsEveryMs=300&maxBackoffMs=500`;
      ids.push(await page.evaluate(([q, o]) => tm.start(q, o), [query, opts] as const));
      const half = Math.floor(c.events.length / 2);
      if (c.name === 'offline') await page.evaluate(() => tm.setOffline(true));
      await page.evaluate((e) => tm.emitAll(e), c.events.slice(0, half));
      await page.evaluate(() => tm.drain());
      if (c.name === 'reload') {
        await page.reload();
        await page.waitForFunction(() => 'tm' in globalThis);
        await page.evaluate(([q, o]) => tm.start(q, o), [query, opts] as const);
      }
      await page.evaluate((e) => tm.emitAll(e), c.events.slice(half));
      await page.evaluate(() => tm.drain());
      if (c.name === 'offline') await page.evaluate(() => tm.setOffline(false));
      Object.assign(c, { page });
      page = undefined as never;
    }

    for (const [i, c] of clients.entries()) {
      const page = (c as unknown as { page: Awaited<ReturnType<typeof openPage>> }).page;
      const batch = new Map(
        batchWindows(c.events, { timestamp: (e) => e.occurredAt, key: (e) => e.page, window: tumbling(100), aggregate: count() }).map(
          (w) => [id(w), w.value],
        ),
      );
      // What the client computes: the same pipeline over its events in emission order (late ones dropped).
      const speed = new Map(latestPanes(runSync(c.events, (s) => occurredPipeline(s).pipe(records()))).map((w) => [id(w), w.value]));
      const watermark = watermarkOf(c.events);
      const final = (key: string) => Number(key.split('|')[2]) + LATENESS <= watermark;
      const wrong = new Set([...batch].filter(([k, v]) => final(k) && speed.get(k) !== v).map(([k]) => k));
      expect(wrong.size, `${c.name}: the scenario has windows the speed layer got wrong`).toBeGreaterThan(0);
      expect([...batch.keys()].some((k) => !final(k)), `${c.name}: and windows not final yet`).toBe(true);

      // The view converges: every final window shows the batch value.
      await until(
        `${c.name}: the view equals the batch answer`,
        async () => {
          const view = await page.evaluate(() => tm.view());
          return [...batch].filter(([k]) => final(k)).every(([k, v]) => view.some((w) => id(w) === k && w.value === v));
        },
        { timeoutMs: 60_000, everyMs: 250 },
      );
      // Corrections: exactly the wrong windows, none for a window not final for the client.
      const token = await tokenFor(secret, ids[i]!);
      const read = async () => {
        const res = await fetch(`${url}/v1/corrections?clientId=${ids[i]}&after=0`, { headers: { authorization: `Bearer ${token}` } });
        return ((await res.json()) as { corrections: Correction[] }).corrections;
      };
      const corrections = await read();
      expect(new Set(corrections.map(id)), c.name).toEqual(wrong);
      for (const k of corrections) expect(k.batch).toBe(batch.get(id(k)));
      // Later runs (one a second) write nothing more.
      await new Promise((r) => setTimeout(r, 2_500));
      expect((await read()).length, `${c.name}: a second run writes nothing`).toBe(corrections.length);
      await page.evaluate(() => tm.close());
      await page.close();
    }
  }, 240_000);
});
