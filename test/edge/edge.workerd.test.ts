// The edge runtime under real workerd (miniflare's bundled runtime), built
// from workers/edge.ts by `tidemark build-edge` (src/server/build-edge.ts), forwarding over real HTTP to
// a real Tidemark server (file log) in this process. A restart is a new
// workerd on the same Durable Object files.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionOf, type EdgeResults } from '../../src/edge/index.js';
import { createPipeline } from '../../src/checkpoint/pipeline.js';
import { createHandler, fileLog, listen, memoryLog, tokenFor, type FileLog, type Listening } from '../../src/server/index.js';
import { isRecord, type Timed, type WindowResult } from '../../src/index.js';
import { latestPanes, seededRandom } from '../../src/testing/index.js';
import { buildEdge } from '../../src/server/build-edge.js';
import { pipeline, type PageView } from '../../workers/edge-pipeline.js';
import { until } from '../helpers.js';
import { startWorkerd } from './workerd.js';

const secret = 'edge test secret, long enough';
const PARTITIONS = 4; // as workers/edge.ts
const dir = mkdtempSync(join(tmpdir(), 'tidemark-edge-'));
let script: string;
const running = new Set<Miniflare>();
const servers: Listening[] = [];
const logs: FileLog[] = [];

beforeAll(async () => {
  script = (await buildEdge({ module: join(import.meta.dirname, '../../workers/edge.ts'), outDir: join(dir, 'bundle'), minify: true })).script;
}, 60_000);
afterAll(async () => {
  for (const mf of running) await mf.dispose().catch(() => {});
  for (const s of servers) await s.close();
  for (const l of logs) await l.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A real Tidemark server over a file log; `outage(n)` makes it answer the next n ingests with 503. */
async function upstream() {
  const log = await fileLog(join(dir, `log-${servers.length}`));
  logs.push(log);
  const handler = await createHandler({ log, secret });
  let failing = 0;
  let requests = 0;
  const server = await listen(async (request) => {
    if (new URL(request.url).pathname === '/v1/ingest') {
      requests++;
      if (failing > 0) {
        failing--;
        return new Response(JSON.stringify({ error: { name: 'StorageError', message: 'outage' } }), { status: 503, headers: { 'retry-after': '1' } });
      }
    }
    return handler(request);
  }, { port: 0 });
  servers.push(server);
  return { log, server, outage: (n: number) => (failing = n), requests: () => requests };
}

async function edge(persist: string, upstreamUrl: string) {
  const { mf, url } = await startWorkerd({
    script,
    persist,
    durableObjects: { PARTITIONS: 'EdgePartition' },
    bindings: { TIDEMARK_SECRET: secret, TIDEMARK_UPSTREAM: upstreamUrl },
  });
  running.add(mf);
  return {
    url,
    async stop() {
      running.delete(mf);
      await mf.dispose();
    },
  };
}

const tokens = new Map<string, string>();
const token = async (id: string) => tokens.get(id) ?? (tokens.set(id, await tokenFor(secret, id)), tokens.get(id)!);

async function post(url: URL, body: unknown, clientId: string, auth?: string | null) {
  const headers: Record<string, string> = {};
  const t = auth === undefined ? await token(clientId) : auth;
  if (t !== null) headers.authorization = `Bearer ${t}`;
  const res = await fetch(new URL('/v1/ingest', url), { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

async function results(url: URL): Promise<EdgeResults> {
  const res = await fetch(new URL('/v1/results', url), { headers: { authorization: `Bearer ${await token('tidemark-results')}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as EdgeResults;
}

type Wire = { seq: number; ts: number; data: PageView };

/** The reference: the same pipeline run once over a partition's events, in the order the partition accepted them. */
function expected(events: PageView[]) {
  const out: WindowResult<string, number>[] = [];
  const run = createPipeline(pipeline).open((o) => {
    if (isRecord(o as Timed<unknown>)) out.push((o as { value: WindowResult<string, number> }).value);
  });
  run.pushAll(events);
  return latestPanes(out).map(({ key, start, end, value }) => ({ key, start, end, value }));
}

describe('edge runtime under workerd', () => {
  it(
    'ingests, survives a restart mid-stream with exact results, and forwards every event to the server log exactly once',
    async () => {
      const up = await upstream();
      up.outage(3); // the first forwarding attempts fail: the outbox must hold and retry
      const persist = join(dir, 'persist-main');
      let e = await edge(persist, up.server.url);

      const random = seededRandom(7);
      const clients = Array.from({ length: 6 }, (_, i) => `client-${i}`);
      const pages = ['/', '/a', '/b', '/c', '/d'];
      const all = new Map<string, Wire[]>();
      for (const c of clients) {
        const list: Wire[] = [];
        for (let s = 1; s <= 1_500; s++) {
          const ts = 1_000_000 + s * 200 - Math.floor(random() * 2_500); // some beyond the 2 s bound: late, dropped alike
          list.push({ seq: s, ts, data: { page: pages[Math.floor(random() * pages.length)]!, ts } });
        }
        all.set(c, list);
      }
      const accepted = Array.from({ length: PARTITIONS }, () => [] as PageView[]);
      const send = async (c: string, from: number, to: number) => {
        const batch = all.get(c)!.slice(from - 1, to);
        const r = await post(e.url, { clientId: c, events: batch }, c);
        expect(r.status, JSON.stringify(r.body)).toBe(200);
        return r.body as { appended: number; duplicates: number; ackedThrough: number };
      };
      const sendNew = async (c: string, from: number, to: number) => {
        const r = await send(c, from, to);
        expect(r).toMatchObject({ appended: to - from + 1, duplicates: 0, ackedThrough: to });
        accepted[partitionOf(c, PARTITIONS)]!.push(...all.get(c)!.slice(from - 1, to).map((w) => w.data));
      };

      for (const round of [0, 1]) for (const c of clients) await sendNew(c, round * 500 + 1, round * 500 + 500);
      await sendNew(clients[0]!, 1_001, 1_200);

      // Mid-stream: some partition has events after its last checkpoint (they must be replayed).
      const before = await results(e.url);
      expect(before.partitions.map((p) => p.processed)).toEqual(accepted.map((a) => a.length));
      expect(before.partitions.some((p) => p.checkpoint > 0 && p.checkpoint < p.processed)).toBe(true);
      expect(before.partitions.some((p) => p.forwarded < p.processed)).toBe(true);

      // workerd goes away with the outbox partly forwarded and a batch in flight:
      // it was either committed whole or not at all, and its client cannot know which.
      const inFlight = post(e.url, { clientId: clients[2]!, events: all.get(clients[2]!)!.slice(1_000, 1_500) }, clients[2]!).catch((err: Error) => err);
      await new Promise((r) => setTimeout(r, 3));
      await e.stop();
      e = await edge(persist, up.server.url);
      const lost = await inFlight;
      const resent = await send(clients[2]!, 1_001, 1_500); // the client re-sends what it has no answer for (or an answer it will not trust)
      expect(resent.appended + resent.duplicates).toBe(500);
      expect(resent.ackedThrough).toBe(1_500);
      if (!(lost instanceof Error) && lost.status === 200) expect(resent.duplicates).toBe(500);
      accepted[partitionOf(clients[2]!, PARTITIONS)]!.push(...all.get(clients[2]!)!.slice(1_000, 1_500).map((w) => w.data));

      // A client retries batches it sent before the restart: acknowledged, not counted again.
      expect(await send(clients[1]!, 501, 1_000)).toMatchObject({ appended: 0, duplicates: 500, ackedThrough: 1_000 });
      expect(await send(clients[0]!, 1_101, 1_300)).toMatchObject({ appended: 100, duplicates: 100, ackedThrough: 1_300 });
      accepted[partitionOf(clients[0]!, PARTITIONS)]!.push(...all.get(clients[0]!)!.slice(1_200, 1_300).map((w) => w.data));
      await sendNew(clients[0]!, 1_301, 1_500);
      for (const c of clients.slice(1)) if (c !== clients[2]) await sendNew(c, 1_001, 1_500);

      const after = await results(e.url);
      for (const p of after.partitions) {
        expect(p.failed).toBeNull();
        expect(p.processed).toBe(accepted[p.partition]!.length);
        expect(p.windows.map(({ key, start, end, value }) => ({ key, start, end, value }))).toEqual(expected(accepted[p.partition]!));
        // The served view's row shape, as GET /v1/views answers it on the server.
        expect(p.rows).toEqual(p.windows.map((w) => ({ key: w.key, start: w.start, end: w.end, value: w.value, source: 'speed', final: false, version: w.pane })));
      }
      expect(after.partitions.reduce((n, p) => n + p.windows.length, 0)).toBeGreaterThan(20);

      // Forwarding: every event reaches the server log, once.
      const total = clients.length * 1_500;
      // read() yields what is durable; stats() counts an append before its fsync (file-log.ts says so).
      await until('the server log holds every event, durably', async () => {
        let n = 0;
        for await (const chunk of up.log.read()) n += chunk.length;
        return n === total;
      }, { timeoutMs: 40_000, everyMs: 100 });
      const seen = new Map<string, number>();
      for await (const chunk of up.log.read())
        for (const ev of chunk) {
          const id = `${ev.clientId}#${ev.seq}`;
          seen.set(id, (seen.get(id) ?? 0) + 1);
          expect(ev.data).toEqual(all.get(ev.clientId)![ev.seq - 1]!.data);
        }
      expect(seen.size).toBe(total);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
      expect(up.log.clients().map((c) => [c.clientId, c.ackedThrough, c.missing]).sort()).toEqual(clients.map((c) => [c, 1_500, 0]));
      expect(up.requests()).toBeGreaterThan(3); // the outage was met and retried
      await until('every partition reports its outbox forwarded', async () =>
        (await results(e.url)).partitions.every((p) => p.forwarded === p.processed),
      { timeoutMs: 10_000, everyMs: 100 });
      await e.stop();
    },
    90_000,
  );

  it(
    'refuses bad input exactly as the server does, and appends nothing',
    async () => {
      const up = await upstream();
      const e = await edge(join(dir, 'persist-bad'), up.server.url);
      const reference = await createHandler({ log: memoryLog(), secret });
      const good = [{ seq: 1, ts: 0, data: { page: '/' } }];
      const cases: { body: unknown; clientId: string; auth?: string | null; method?: string; path?: string }[] = [
        { body: '{"clientId": "c1", "events": [', clientId: 'c1' },
        { body: '[1,2]', clientId: 'c1' },
        { body: { clientId: 'c1', events: 'nope' }, clientId: 'c1' },
        { body: { clientId: 'c1', events: [] }, clientId: 'c1' },
        { body: { clientId: 'c1', events: [{ seq: 2, ts: 0, data: 1 }, { seq: 2, ts: 1, data: 1 }] }, clientId: 'c1' },
        { body: { clientId: 'c1', events: [{ seq: 1, ts: 'x', data: 1 }] }, clientId: 'c1' },
        { body: { clientId: 'c1', events: [{ seq: 1, ts: 0 }] }, clientId: 'c1' },
        { body: { clientId: '../x', events: good }, clientId: 'c1' },
        { body: { clientId: 'c1', events: good }, clientId: 'c1', auth: null },
        { body: { clientId: 'c1', events: good }, clientId: 'c1', auth: 'x'.repeat(43) },
        { body: { clientId: 'c2', events: good }, clientId: 'c1' },
        { body: 'x', clientId: 'c1', method: 'GET' },
        { body: 'x', clientId: 'c1', method: 'POST', path: '/v2/ingest' },
      ];
      for (const c of cases) {
        const t = c.auth === undefined ? await token(c.clientId) : c.auth;
        const init = (): RequestInit => ({
          method: c.method ?? 'POST',
          headers: t === null ? {} : { authorization: `Bearer ${t}` },
          ...(c.method === 'GET' ? {} : { body: typeof c.body === 'string' ? c.body : JSON.stringify(c.body) }),
        });
        const path = c.path ?? '/v1/ingest';
        const fromEdge = await fetch(new URL(path, e.url), init());
        const fromServer = await reference(new Request(`http://server${path}`, init()));
        const label = JSON.stringify(c);
        expect(fromEdge.status, label).toBe(fromServer.status);
        expect(fromEdge.status, label).toBeGreaterThanOrEqual(400);
        expect(await fromEdge.json(), label).toEqual(await fromServer.json());
      }
      const res = await fetch(new URL('/v1/results', e.url));
      expect(res.status).toBe(401);
      expect(((await res.json()) as any).error.message).toMatch(/token of client id tidemark-results/);
      expect((await fetch(new URL('/v1/results?partition=9', e.url), { headers: { authorization: `Bearer ${await token('tidemark-results')}` } })).status).toBe(400);
      expect((await results(e.url)).partitions.map((p) => p.processed)).toEqual([0, 0, 0, 0]);
      expect((await post(e.url, { clientId: 'c1', events: good }, 'c1')).body).toEqual({ ackedThrough: 1, appended: 1, duplicates: 0, gaps: [] });
      await e.stop();
    },
    60_000,
  );

  it(
    'tidemark build-edge turns a pipeline module into a deployable worker and a wrangler.toml',
    async () => {
      const built = await buildEdge({ module: join(import.meta.dirname, '../../workers/edge-pipeline.ts'), outDir: join(dir, 'generated'), partitions: 2 });
      expect(built.generated).toBe(true);
      expect(built.gzipBytes).toBeLessThan(40_000);
      const toml = readFileSync(built.wrangler, 'utf8');
      expect(toml).toMatch(/class_name = "EdgePartition"/);
      expect(toml).toMatch(/new_sqlite_classes = \["EdgePartition"\]/);
      const up = await upstream();
      const { mf, url } = await startWorkerd({
        script: built.script,
        persist: join(dir, 'persist-generated'),
        durableObjects: { PARTITIONS: 'EdgePartition' },
        bindings: { TIDEMARK_SECRET: secret, TIDEMARK_UPSTREAM: up.server.url },
      });
      running.add(mf);
      const events = Array.from({ length: 10 }, (_, i) => ({ seq: i + 1, ts: i * 10_000, data: { page: '/', ts: i * 10_000 } }));
      expect((await post(url, { clientId: 'g1', events }, 'g1')).body).toMatchObject({ appended: 10, ackedThrough: 10 });
      const r = await results(url);
      expect(r.partitions.map((p) => p.partition)).toEqual([0, 1]);
      expect(r.partitions[partitionOf('g1', 2)]!.windows.map((w) => [w.key, w.start, w.value])).toEqual([['/', 0, 6]]);
      // The views API's filters: a range that misses the window, and a reversed one.
      const filtered = await fetch(new URL('/v1/results?from=60000&to=120000', url), { headers: { authorization: `Bearer ${await token('tidemark-results')}` } });
      expect(((await filtered.json()) as EdgeResults).partitions.flatMap((p) => p.rows)).toEqual([]);
      const reversed = await fetch(new URL('/v1/results?from=2&to=1', url), { headers: { authorization: `Bearer ${await token('tidemark-results')}` } });
      expect(reversed.status).toBe(400);
      await until('the upstream log holds the batch', () => up.log.stats().events === 10, { timeoutMs: 10_000, everyMs: 50 });
      running.delete(mf);
      await mf.dispose();
    },
    60_000,
  );
});
