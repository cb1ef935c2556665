import { describe, expect, it } from 'vitest';
import type { UploadStatus } from '../../src/worker/contract.js';
import type { DeadLetter, OutboxRecord, StoredCorrections } from '../../src/worker/outbox-store.js';
import { createUploader, type UploadStore } from '../../src/worker/uploader.js';
import { until } from '../helpers.js';
import { createHandler, memoryLog, tokenFor, type EventLog } from '../../src/server/index.js';
import type { Correction, WireResult } from '../../src/protocol/wire.js';

const secret = 'uploader test secret';

/** An outbox in memory, JSON records of `per` events each. */
function memoryStore(total: number, per = 100) {
  const records: OutboxRecord[] = [];
  for (let seq = 1; seq <= total; seq += per) {
    const last = Math.min(total, seq + per - 1);
    const events = Array.from({ length: last - seq + 1 }, (_, i) => ({ n: seq + i, ts: (seq + i) * 10 }));
    records.push({ seq, last, events: JSON.stringify(events), encoding: 'json', batch: `b${seq}`, bytes: 0, at: 0 });
  }
  let acked = 0;
  const dead: DeadLetter[] = [];
  let corrections: StoredCorrections | undefined;
  const store: UploadStore = {
    async readHolding(seq, max) {
      return records.filter((r) => r.last > seq).slice(0, max);
    },
    async acked() {
      return acked;
    },
    async ack(seq) {
      acked = Math.max(acked, seq);
    },
    async deadLetter(letters) {
      dead.push(...letters);
      acked = Math.max(acked, ...letters.map((l) => l.seq));
    },
    async deadLetters() {
      return { count: dead.length, latest: dead.at(-1) };
    },
    async loadCorrections() {
      return corrections;
    },
    async saveCorrections(c) {
      corrections = c;
    },
  };
  return { store, dead, acked: () => acked };
}

async function seqs(log: EventLog) {
  const out: number[] = [];
  for await (const chunk of log.read()) for (const e of chunk) out.push(e.seq);
  return out.sort((a, b) => a - b);
}


async function setup(opts: {
  total: number;
  fault?: (req: Request, n: number) => Response | undefined | Promise<Response | undefined>;
  results?: WireResult[];
  corrections?: Correction[];
  maxBatchBytes?: number;
  online?: () => boolean;
}) {
  const log = memoryLog();
  const received: WireResult[] = [];
  const handler = await createHandler({
    log,
    secret,
    results: { put: async (_c, r) => void received.push(...r) },
    corrections: { since: (_c, after) => ({ corrections: (opts.corrections ?? []).filter((c) => c.cursor > after), cursor: Math.max(after, ...(opts.corrections ?? []).map((c) => c.cursor)) }) },
  });
  let requests = 0;
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    requests++;
    const injected = await opts.fault?.(req.clone(), requests);
    return injected ?? handler(req);
  }) as typeof fetch;
  const mem = memoryStore(opts.total);
  const statuses: UploadStatus[] = [];
  let unauthorized = 0;
  let pendingResults = [...(opts.results ?? [])];
  let gotCorrections: StoredCorrections | undefined;
  const up = createUploader({
    store: mem.store,
    clientId: 'c1',
    settings: { maxBatchBytes: opts.maxBatchBytes ?? 2000, minBackoffMs: 5, maxBackoffMs: 40, requestTimeoutMs: 1000, correctionsEveryMs: 50 },
    decode: (r) => JSON.parse(r.events as string) as unknown[],
    timestamp: (e) => (e as { ts: number }).ts,
    results: () => {
      const pending = pendingResults;
      return { pending, sent: () => (pendingResults = pendingResults.filter((r) => !pending.includes(r))) };
    },
    onStatus: (s) => statuses.push(s),
    onCorrections: (c) => (gotCorrections = c),
    onUnauthorized: () => unauthorized++,
    report: () => undefined,
    fetch: fetchFn,
    ...(opts.online ? { online: opts.online } : {}),
  });
  up.connect('http://server.test/v1', await tokenFor(secret, 'c1'));
  return { log, up, mem, statuses, received, unauthorized: () => unauthorized, requests: () => requests, corrections: () => gotCorrections };
}

describe('uploader', () => {
  it('drains the outbox in bounded requests, exactly once, and records the acknowledgement', async () => {
    const t = await setup({ total: 1000 });
    await until('drained', () => t.mem.acked() === 1000);
    expect(await seqs(t.log)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(t.requests()).toBeGreaterThan(20); // 2000-byte bodies: ~35 events each
    t.up.stop();
  });

  it('rides out network errors, 503 with Retry-After and 429, then delivers everything once', async () => {
    const t = await setup({
      total: 500,
      fault: (_req, n) => {
        if (n <= 3) throw new TypeError('Failed to fetch');
        if (n === 5) return new Response('{"error":{"message":"busy"}}', { status: 503, headers: { 'retry-after': '0' } });
        if (n === 7) return new Response('{}', { status: 429 });
        return undefined;
      },
    });
    await until('drained', () => t.mem.acked() === 500);
    expect(await seqs(t.log)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
    expect(t.statuses.some((s) => s.state === 'backoff' && /Failed to fetch/.test(s.lastError ?? ''))).toBe(true);
    expect(t.statuses.some((s) => s.lastError?.startsWith('503'))).toBe(true);
    t.up.stop();
  });

  it('replays after a lost answer are deduplicated by the server', async () => {
    let dropped = 0;
    const t = await setup({
      total: 300,
      fault: async (req, n) => {
        // The server appends, but the answer is lost on the way back.
        if (n % 3 === 0 && dropped < 4) {
          dropped++;
          throw new TypeError('connection reset');
        }
        void req;
        return undefined;
      },
    });
    await until('drained', () => t.mem.acked() === 300);
    expect(await seqs(t.log)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    t.up.stop();
  });

  it('isolates an event the server refuses for good (400) by halving, keeps it as a dead letter, and goes on', async () => {
    const t = await setup({
      total: 200,
      fault: async (req) => {
        const body = (await req.json()) as { events: { seq: number }[] };
        if (body.events.some((e) => e.seq === 77))
          return new Response(JSON.stringify({ error: { name: 'ProtocolError', message: 'events[0].data: refused' } }), { status: 400 });
        return undefined;
      },
    });
    await until('drained', () => t.mem.acked() === 200);
    expect(t.mem.dead.map((d) => [d.seq, d.status])).toEqual([[77, 400]]);
    expect(t.mem.dead[0]!.reason).toContain('refused');
    const held = await seqs(t.log);
    expect(held).toHaveLength(199);
    expect(held).not.toContain(77);
    expect(t.statuses.at(-1)!.deadLetters).toBe(1);
    t.up.stop();
  });

  it('pauses on 401 (never dead-letters), asks for a new token, and resumes with it', async () => {
    const t = await setup({ total: 50 });
    t.up.connect('http://server.test/v1', 'A'.repeat(43));
    await until('paused', () => t.statuses.some((s) => s.state === 'paused'));
    expect(t.unauthorized()).toBeGreaterThan(0);
    expect(t.mem.dead).toHaveLength(0);
    t.up.connect('http://server.test/v1', await tokenFor(secret, 'c1'));
    await until('drained', () => t.mem.acked() === 50);
    t.up.stop();
  });

  it('uploads final results and pulls corrections', async () => {
    const results = [{ key: 'a', start: 0, end: 10, value: 3, pane: 0 }];
    const corrections = [{ cursor: 4, key: 'a', start: 0, end: 10, speed: 3, batch: 4, at: 1 }];
    const t = await setup({ total: 10, results, corrections });
    await until('results sent', () => t.received.length === 1);
    expect(t.received).toEqual(results);
    await until('corrections', () => t.corrections() !== undefined);
    expect(t.corrections()).toEqual({ cursor: 4, entries: corrections });
    t.up.stop();
  });

  it('going offline aborts a request that hangs, instead of waiting for its timeout', async () => {
    let hung = 0;
    const t = await setup({
      total: 1000,
      // The first request never answers (a connection cut mid-flight); it only ends when aborted.
      fault: (req, n) =>
        n === 1
          ? new Promise<Response>((_, reject) => {
              hung++;
              req.signal.addEventListener('abort', () => reject(req.signal.reason));
            })
          : undefined,
    });
    await until('the request under way', () => hung === 1);
    const start = Date.now();
    t.up.setOnline(false);
    await until('offline', () => t.statuses.at(-1)?.state === 'offline', { timeoutMs: 500 });
    expect(Date.now() - start).toBeLessThan(500); // the request timeout is 1 000 ms
    t.up.setOnline(true);
    await until('drained', () => t.mem.acked() === 1000);
    expect(await seqs(t.log)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    t.up.stop();
  });

  it('resumes when the network is back even if the online event never comes', async () => {
    let onLine = true;
    const t = await setup({ total: 1000, online: () => onLine });
    onLine = false;
    t.up.setOnline(false);
    await until('offline', () => t.statuses.at(-1)?.state === 'offline');
    onLine = true; // navigator.onLine is true again, but no event tells the uploader
    await until('drained', () => t.mem.acked() === 1000);
    t.up.stop();
  });

  it('waits while offline and resumes on the online event', async () => {
    const t = await setup({ total: 1000 });
    t.up.setOnline(false);
    await until('offline', () => t.statuses.at(-1)?.state === 'offline');
    const stalled = t.mem.acked();
    const requests = t.requests();
    await new Promise((r) => setTimeout(r, 100));
    expect(t.mem.acked()).toBe(stalled);
    expect(t.requests()).toBe(requests);
    expect(stalled).toBeLessThan(1000);
    t.up.setOnline(true);
    await until('drained', () => t.mem.acked() === 1000);
    t.up.stop();
  });
});
