// The batch layer beside ingest, as separate processes: `tidemark export` and
// `tidemark reconcile` while `tidemark serve` takes uploads from concurrent
// clients; POST /v1/reconcile with the admin token; the batch lock; a batch
// run killed with SIGKILL, completed by the next.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adminTokenFor, tokenFor } from '../../src/server/index.js';
import { until } from '../helpers.js';
import { root, tidemarkCli } from './cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-beside-'));
const secret = 'the secret of the beside-ingest test';
const { cli, start, serve, killAll } = tidemarkCli({ TIDEMARK_SECRET: secret });
afterAll(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

/** A pipeline module; with $SLOW_MS set, each event costs that much (a long batch run to kill). */
const pipelineFile = join(dir, 'pipeline.mjs');
writeFileSync(
  pipelineFile,
  `
import { count, eventTime, mapRecords, tumbling, windowBy } from ${JSON.stringify(join(root, 'src/index.ts'))};
const slow = Number(process.env.SLOW_MS ?? 0);
const spin = (e) => { if (slow > 0) { const until = performance.now() + slow; while (performance.now() < until); } return e; };
export const pipeline = (events$) => events$.pipe(
  eventTime({ timestamp: (e) => e.occurredAt, maxOutOfOrderness: 10 }),
  mapRecords(spin),
  windowBy({ key: (e) => e.page, window: tumbling(100), aggregate: count() }),
);
`,
);

const CLIENTS = ['c1', 'c2', 'c3', 'c4'];
const BATCHES = 40;
const PER_BATCH = 50;

/**
 * Client `id` uploads batches of events, one request at a time: `BATCHES`,
 * and then on until `busy()` says stop; answers how many events it sent.
 */
async function client(url: string, id: string, busy = () => false): Promise<number> {
  const token = await tokenFor(secret, id);
  let seq = 0;
  for (let b = 0; b < BATCHES || busy(); b++) {
    const events = Array.from({ length: PER_BATCH }, () => {
      seq++;
      return { seq, ts: seq, data: { page: `/p${seq % 3}`, occurredAt: seq } };
    });
    const res = await fetch(`${url}/v1/ingest`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: JSON.stringify({ clientId: id, events }) });
    expect(res.status).toBe(200);
  }
  return seq;
}

/** Every (clientId, seq) of an export, checked: no event twice, and each client's a prefix 1..n (a snapshot of acknowledged uploads). */
function exported(stdout: string): Map<string, number> {
  const seqs = new Map<string, number[]>();
  for (const line of stdout.trim().split('\n').filter(Boolean)) {
    const e = JSON.parse(line) as { clientId: string; seq: number };
    let s = seqs.get(e.clientId);
    if (!s) seqs.set(e.clientId, (s = []));
    s.push(e.seq);
  }
  const counts = new Map<string, number>();
  for (const [id, s] of seqs) {
    s.sort((a, b) => a - b);
    expect(s, `${id}: a prefix, each seq once`).toEqual(Array.from({ length: s.length }, (_, i) => i + 1));
    counts.set(id, s.length);
  }
  return counts;
}

/** The batch view of a client that sent `events` events: count by `page|start`. */
function countsOf(events: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let t = 1; t <= events; t++) {
    const id = `/p${t % 3}|${Math.floor(t / 100) * 100}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

const windowsOf = (events: number) => {
  // Tumbling 100 over occurredAt 1..events, keyed by page (seq % 3): the windows the batch layer has.
  const ids = new Set<string>();
  for (let t = 1; t <= events; t++) ids.add(`/p${t % 3}|${Math.floor(t / 100)}`);
  return ids.size;
};

describe('the batch layer beside ingest (separate processes)', () => {
  it('tidemark view prints the persisted batch view: all of it, one client, or the windows over all clients', async () => {
    const data = join(dir, 'view');
    mkdirSync(join(data, 'batch'), { recursive: true });
    const windows = [
      { clientId: null, key: '/', start: 0, end: 100, value: 5 },
      { clientId: 'c1', key: '/', start: 0, end: 100, value: 2 },
      { clientId: 'c2', key: '/', start: 0, end: 100, value: 3 },
    ];
    writeFileSync(join(data, 'batch', 'view.ndjson'), windows.map((w) => `${JSON.stringify(w)}\n`).join(''));
    const lines = async (...args: string[]) =>
      (await cli('view', '--data', data, ...args)).stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(await lines()).toEqual(windows);
    expect(await lines('--client', 'c2')).toEqual([windows[2]]);
    expect(await lines('--global')).toEqual([windows[0]]);
    expect(await lines('--data', join(dir, 'empty'))).toEqual([]);
  });

  it('export and reconcile run while serve ingests from concurrent clients; nothing lost or doubled; corrections reach clients with no restart', async () => {
    const data = join(dir, 'a');
    const server = await serve('--data', data, '--pipeline', pipelineFile, '--reconcile-every', '1h');
    let busy = true; // the clients upload until export and reconcile are done
    const uploads = Promise.all(CLIENTS.map((id) => client(server.url, id, () => busy)));
    // While the clients upload: export and reconcile, each a process of its own, reading snapshots.
    await until('some events in', async () => (await cli('export', '--data', data)).stdout.length > 0, { timeoutMs: 20_000, everyMs: 100 });
    const during = exported((await cli('export', '--data', data)).stdout);
    const report = JSON.parse((await cli('reconcile', '--pipeline', pipelineFile, '--data', data, '--json')).stdout);
    expect(report.failures).toEqual([]);
    busy = false;
    const sent = await uploads;
    const total = sent.reduce((a, b) => a + b, 0);
    // Both read snapshots while uploads went on.
    expect([...during.values()].reduce((a, b) => a + b, 0)).toBeLessThan(total);
    expect(report.events).toBeLessThan(total);
    // After: every event, once.
    const after = exported((await cli('export', '--data', data)).stdout);
    expect(Object.fromEntries(after)).toEqual(Object.fromEntries(CLIENTS.map((id, i) => [id, sent[i]])));

    // The clients never uploaded results: every window of theirs is final, and missing from their speed view.
    const complete = JSON.parse((await cli('reconcile', '--pipeline', pipelineFile, '--data', data, '--json')).stdout);
    expect(complete.events).toBe(total);
    const windows = sent.reduce((n, events) => n + windowsOf(events), 0);
    // The first run corrected the windows in its snapshot (the last ones partly, with what the log
    // held then: for a client that reports no watermark, every window is final); this one the rest.
    expect(report.written + complete.written).toBeGreaterThanOrEqual(windows);
    // Written by another process; the running server answers them at once.
    const token = await tokenFor(secret, 'c3');
    const res = await fetch(`${server.url}/v1/corrections?clientId=c3&after=0&limit=10000`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await res.json()) as { corrections: { key: string; start: number; batch: unknown; speed: unknown }[] };
    const latest = new Map(body.corrections.map((c) => [`${c.key}|${c.start}`, c.batch]));
    expect(latest).toEqual(countsOf(sent[2]!));
    expect(body.corrections.every((c) => c.speed === null)).toBe(true);

    // POST /v1/reconcile: the admin token only; the run is the server's own, and has nothing left to write.
    const post = (auth?: string) => fetch(`${server.url}/v1/reconcile`, { method: 'POST', headers: auth ? { authorization: `Bearer ${auth}` } : {} });
    expect((await post()).status).toBe(401);
    const refused = await post(token);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/not the admin token.*tidemark token --admin/);
    const admin = (await cli('token', '--admin', '--data', data)).stdout.trim();
    expect(admin).toBe(await adminTokenFor(secret));
    const ran = await post(admin);
    expect(ran.status).toBe(200);
    expect(await ran.json()).toMatchObject({ events: total, written: 0, skipped: windows, failures: [] });
    server.child.kill('SIGTERM');
  }, 90_000); // several processes, each started with tsx

  it("two batch runs never overlap: the server's run is refused and a second reconcile waits, naming the process; a run killed with SIGKILL is completed by the next", async () => {
    const data = join(dir, 'b');
    const server = await serve('--data', data, '--pipeline', pipelineFile, '--reconcile-every', '1h');
    await Promise.all(CLIENTS.map((id) => client(server.url, id)));
    const admin = await adminTokenFor(secret);
    const post = () => fetch(`${server.url}/v1/reconcile`, { method: 'POST', headers: { authorization: `Bearer ${admin}` } });

    // A slow batch run in its own process (2 ms per event: it would run for a minute), killed with SIGKILL while it holds the lock.
    const slow = start(['reconcile', '--pipeline', pipelineFile, '--data', data], { SLOW_MS: '2' });
    const lock = join(data, 'batch', 'LOCK');
    await until('the batch lock taken', () => existsSync(lock), { timeoutMs: 20_000, everyMs: 20 });
    // Meanwhile: the server's run is refused (409), naming the process.
    const busy = await post();
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { error: { message: string } }).error.message).toContain(`under way in process ${slow.pid}`);
    // A second tidemark reconcile waits for it, and says for which process.
    const second = start(['reconcile', '--pipeline', pipelineFile, '--data', data, '--json']);
    let said = '';
    let printed = '';
    second.stderr!.on('data', (d: Buffer) => (said += d.toString()));
    second.stdout!.on('data', (d: Buffer) => (printed += d.toString()));
    const ended = new Promise<number | null>((r) => second.once('exit', r));
    await until('the second run waits', () => said.includes('waiting'), { timeoutMs: 20_000, everyMs: 20 });
    expect(said).toMatch(new RegExp(`waiting: a batch run over .* is under way in process ${slow.pid}`));
    slow.kill('SIGKILL');
    await new Promise((r) => slow.once('exit', r));

    // The waiting run takes the dead run's lock over and writes every correction.
    expect(await ended).toBe(0);
    const total = CLIENTS.length * BATCHES * PER_BATCH;
    expect(JSON.parse(printed)).toMatchObject({ events: total, written: CLIENTS.length * windowsOf(BATCHES * PER_BATCH), failures: [] });
    expect(existsSync(lock)).toBe(false);
    const next = await post();
    expect(next.status).toBe(200);
    expect(await next.json()).toMatchObject({ events: total, written: 0, failures: [] });
    server.child.kill('SIGTERM');
  }, 90_000);

  it('refuses what does not parse: a schedule, a retention, a token request with both a client and --admin, a log directory that does not exist', async () => {
    const fail = (...args: string[]) =>
      cli(...args).then(
        () => '',
        (e: { stderr: string }) => e.stderr,
      );
    expect(await fail('serve', '--data', join(dir, 'c'), '--pipeline', pipelineFile, '--reconcile-every', 'soon')).toMatch(
      /--reconcile-every must be a duration like 30s, 5m, 1h or 2d .*got "soon"/,
    );
    expect(await fail('serve', '--data', join(dir, 'c'), '--pipeline', pipelineFile, '--retention', '30s')).toMatch(
      /--retention must be a duration like 30s, 5m, 1h or 2d \(a bare number is seconds; at least 1m\), got "30s"/,
    );
    expect(await fail('serve', '--data', join(dir, 'c'), '--retention', '30d')).toMatch(/--retention needs --pipeline/);
    expect(await fail('serve', '--data', join(dir, 'c'), '--pipeline', pipelineFile, '--retention', '30d', '--nats', 'nats://127.0.0.1:1')).toMatch(
      /--retention is for the file log/,
    );
    expect(await fail('token', 'c1', '--admin', '--data', join(dir, 'a'))).toMatch(/token takes one of: a client id, --admin, --reader <name>/);
    expect(await fail('export', '--data', join(dir, 'nowhere'))).toMatch(/there is no log in .*nowhere.*point --data/);
  });
});
