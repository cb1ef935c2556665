// The uploader (src/worker/uploader.ts) against the real server handler, in
// virtual time: time moves only when every request has been answered and the
// uploader waits on a timer, so no test sleeps and every wait is measured.
import { describe, expect, it } from 'vitest';
import { OnlineState } from '../../src/host/online.js';
import type { Correction, WireResult } from '../../src/protocol/wire.js';
import { createHandler, type EventLog, memoryLog, tokenFor } from '../../src/server/index.js';
import { seededRandom, virtualClock } from '../../src/testing/index.js';
import type { UploadStatus } from '../../src/worker/contract.js';
import type { DeadLetter, OutboxRecord, StoredCorrections } from '../../src/worker/outbox-store.js';
import { createUploader, type UploadStore } from '../../src/worker/uploader.js';
import { NOW, RETRY_AFTER_TABLE, STATUS_TABLE } from '../protocol/status-table.js';

const secret = 'uploader test secret';
const endpoint = 'http://server.test/v1';

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
    readHolding: async (seq, max) => records.filter((r) => r.last > seq).slice(0, max),
    acked: async () => acked,
    ack: async (seq) => void (acked = Math.max(acked, seq)),
    async deadLetter(letters) {
      dead.push(...letters);
      acked = Math.max(acked, ...letters.map((l) => l.seq));
    },
    deadLetters: async () => ({ count: dead.length, latest: dead.at(-1) }),
    loadCorrections: async () => corrections,
    saveCorrections: async (c) => void (corrections = c),
  };
  return { store, dead, acked: () => acked };
}

async function seqs(log: EventLog) {
  const out: number[] = [];
  for await (const chunk of log.read()) for (const e of chunk) out.push(e.seq);
  return out.sort((a, b) => a - b);
}

/** An injected answer that never comes (a connection cut mid-flight): only an abort ends it. */
const HANG = Symbol('hang');
type Fault = (req: Request, n: number) => Response | undefined | typeof HANG | Promise<Response | undefined>;

async function setup(opts: {
  total: number;
  fault?: Fault;
  results?: WireResult[];
  corrections?: Correction[];
  maxBatchBytes?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  random?: () => number;
  probe?: () => boolean;
  /** What the page does when asked for a token (default: nothing). */
  onUnauthorized?: () => void;
}) {
  const clock = virtualClock(NOW);
  const log = memoryLog();
  const received: WireResult[] = [];
  const handler = await createHandler({
    log,
    secret,
    now: () => clock.now(),
    results: { put: async (_c, r) => void received.push(...r) },
    corrections: {
      since: (_c, after) => ({
        corrections: (opts.corrections ?? []).filter((c) => c.cursor > after),
        cursor: Math.max(after, ...(opts.corrections ?? []).map((c) => c.cursor)),
      }),
    },
  });
  const at: number[] = [];
  const answering = new Set<Promise<unknown>>();
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    at.push(clock.now());
    const injected = opts.fault?.(req.clone(), at.length);
    if (injected === HANG)
      return new Promise<Response>((_, reject) => req.signal.addEventListener('abort', () => reject(req.signal.reason)));
    const answer = (async () => (await injected) ?? handler(req))();
    answering.add(answer);
    const done = () => void answering.delete(answer);
    answer.then(done, done);
    return answer;
  }) as typeof fetch;
  const mem = memoryStore(opts.total);
  const statuses: UploadStatus[] = [];
  let unauthorized = 0;
  let pendingResults = [...(opts.results ?? [])];
  let gotCorrections: StoredCorrections | undefined;
  const network = new OnlineState(opts.probe);
  const up = createUploader({
    store: mem.store,
    clientId: 'c1',
    settings: {
      maxBatchBytes: opts.maxBatchBytes ?? 2000,
      minBackoffMs: opts.minBackoffMs ?? 500,
      maxBackoffMs: opts.maxBackoffMs ?? 60_000,
      requestTimeoutMs: 10_000,
      correctionsEveryMs: 10_000,
    },
    decode: (r) => JSON.parse(r.events as string) as unknown[],
    timestamp: (e) => (e as { ts: number }).ts,
    results: () => {
      const pending = pendingResults;
      return { pending, sent: () => (pendingResults = pendingResults.filter((r) => !pending.includes(r))) };
    },
    onStatus: (s) => statuses.push(s),
    onCorrections: (c) => (gotCorrections = c),
    onUnauthorized: () => {
      unauthorized++;
      opts.onUnauthorized?.();
    },
    report: () => undefined,
    fetch: fetchFn,
    clock,
    network,
    random: opts.random ?? seededRandom(7),
  });
  const goodToken = await tokenFor(secret, 'c1');

  /** Lets every answer under way arrive (real awaits: the handler's crypto) and the uploader act on it, without moving time. */
  const quiesce = async () => {
    for (let round = 0; round < 2_000; round++) {
      await clock.settle();
      if (answering.size === 0) return;
      await Promise.allSettled([...answering]);
    }
    throw new Error('the uploader never came to rest');
  };
  /** Runs until `done()`, moving virtual time from timer to timer, at most `limitMs`. */
  const run = async (what: string, done: () => boolean, limitMs = 10 * 60_000) => {
    const end = clock.now() + limitMs;
    for (;;) {
      await quiesce();
      if (done()) return;
      const due = clock.dueTimes()[0];
      if (due === undefined || due > end) throw new Error(`${what}: not done after ${limitMs} ms of virtual time`);
      await clock.advance(due - clock.now());
    }
  };
  /** Moves virtual time by `ms`, acting on every answer on the way. */
  const advance = async (ms: number) => {
    const end = clock.now() + ms;
    for (;;) {
      await quiesce();
      const due = clock.dueTimes()[0];
      if (due === undefined || due > end) break;
      await clock.advance(due - clock.now());
    }
    await clock.advance(end - clock.now());
    await quiesce();
  };
  const last = () => statuses.at(-1)!;
  return { clock, log, up, mem, statuses, last, received, network, goodToken, at, quiesce, run, advance, unauthorized: () => unauthorized, corrections: () => gotCorrections };
}

const allSeqs = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('uploader', () => {
  it('drains the outbox in bounded requests, exactly once, without waiting', async () => {
    const t = await setup({ total: 1000 });
    t.up.connect(endpoint, t.goodToken);
    await t.quiesce();
    expect(t.mem.acked()).toBe(1000);
    expect(t.clock.now()).toBe(NOW); // no time passed: nothing waited
    expect(await seqs(t.log)).toEqual(allSeqs(1000));
    expect(t.at.length).toBeGreaterThan(20); // 2000-character bodies: ~35 events each
    t.up.stop();
  });

  it('rides out network errors, 503 with Retry-After and 429, then delivers everything once', async () => {
    const t = await setup({
      total: 500,
      fault: (_req, n) => {
        if (n <= 3) throw new TypeError('Failed to fetch');
        if (n === 5) return new Response('{"error":{"message":"busy"}}', { status: 503, headers: { 'retry-after': '20' } });
        if (n === 7) return new Response('{}', { status: 429 });
        return undefined;
      },
    });
    t.up.connect(endpoint, t.goodToken);
    await t.run('drained', () => t.mem.acked() === 500);
    expect(await seqs(t.log)).toEqual(allSeqs(500));
    expect(t.statuses.some((s) => s.state === 'backoff' && /Failed to fetch/.test(s.lastError ?? ''))).toBe(true);
    expect(t.statuses.some((s) => s.lastError === '503: busy')).toBe(true);
    expect(t.at[5]! - t.at[4]!).toBeGreaterThanOrEqual(20_000); // never sooner than Retry-After
    // Full jitter, exponential: the three network errors wait under 500, 1000 and 2000 ms.
    [500, 1_000, 2_000].forEach((ceiling, i) => expect(t.at[i + 1]! - t.at[i]!).toBeLessThanOrEqual(ceiling));
    t.up.stop();
  });

  it('replays after a lost answer are deduplicated by the server', async () => {
    let dropped = 0;
    const t = await setup({
      total: 300,
      // The server appends, but the answer is lost on the way back.
      fault: (_req, n) => (n % 3 === 0 && dropped++ < 4 ? Promise.reject(new TypeError('connection reset')) : undefined),
    });
    t.up.connect(endpoint, t.goodToken);
    await t.run('drained', () => t.mem.acked() === 300);
    expect(await seqs(t.log)).toEqual(allSeqs(300));
    t.up.stop();
  });

  it('isolates an event the server refuses for good (400) by halving, keeps it as a dead letter, and goes on', async () => {
    const t = await setup({
      total: 200,
      fault: async (req) => {
        if (req.method !== 'POST') return undefined;
        const body = (await req.json()) as { events: { seq: number }[] };
        if (body.events.some((e) => e.seq === 77))
          return new Response(JSON.stringify({ error: { name: 'ProtocolError', message: 'events[0].data: refused' } }), { status: 400 });
        return undefined;
      },
    });
    t.up.connect(endpoint, t.goodToken);
    await t.quiesce(); // refusals do not wait
    expect(t.mem.acked()).toBe(200);
    expect(t.mem.dead.map((d) => [d.seq, d.status, d.reason, d.at])).toEqual([[77, 400, 'events[0].data: refused', NOW]]);
    const held = await seqs(t.log);
    expect(held).toEqual(allSeqs(200).filter((s) => s !== 77));
    expect(t.last().deadLetters).toBe(1);
    t.up.stop();
  });

  it('uploads final results and pulls corrections', async () => {
    const results = [{ key: 'a', start: 0, end: 10, value: 3, pane: 0 }];
    const corrections = [{ cursor: 4, key: 'a', start: 0, end: 10, speed: 3, batch: 4, at: 1 }];
    const t = await setup({ total: 10, results, corrections });
    t.up.connect(endpoint, t.goodToken);
    await t.quiesce();
    expect(t.received).toEqual(results);
    expect(t.corrections()).toEqual({ cursor: 4, entries: corrections });
    expect(t.last()).toMatchObject({ state: 'idle', correctionsCursor: 4 });
    t.up.stop();
  });
});

describe('uploader: online state', () => {
  it('going offline aborts a request that hangs, instead of waiting for its timeout', async () => {
    const t = await setup({ total: 1000, fault: (_req, n) => (n === 1 ? HANG : undefined) });
    t.up.connect(endpoint, t.goodToken);
    await t.quiesce();
    expect(t.at).toHaveLength(1);
    t.network.setNetwork(false);
    await t.quiesce();
    expect(t.last().state).toBe('offline'); // at once: the request timeout (10 s) did not run out
    expect(t.clock.now()).toBe(NOW);
    t.network.setNetwork(true);
    await t.quiesce();
    expect(t.mem.acked()).toBe(1000);
    expect(await seqs(t.log)).toEqual(allSeqs(1000));
    t.up.stop();
  });

  it('a request with no answer times out on the clock', async () => {
    const t = await setup({ total: 10, fault: (_req, n) => (n === 1 ? HANG : undefined) });
    t.up.connect(endpoint, t.goodToken);
    await t.run('delivered', () => t.mem.acked() === 10);
    expect(t.statuses.some((s) => s.lastError === 'TimeoutError: no answer within 10000 ms')).toBe(true);
    expect(t.at[1]! - t.at[0]!).toBeGreaterThanOrEqual(10_000);
    t.up.stop();
  });

  it('resumes when the network is back even if the online event never comes', async () => {
    let onLine = false;
    const t = await setup({ total: 1000, probe: () => onLine });
    t.up.connect(endpoint, t.goodToken);
    await t.quiesce();
    expect(t.last().state).toBe('offline');
    expect(t.at).toHaveLength(0);
    onLine = true; // navigator.onLine is true again, but no event tells the uploader
    await t.run('drained', () => t.mem.acked() === 1000, 60_000);
    t.up.stop();
  });

  it('waits while forced offline, and resumes at once when released', async () => {
    const t = await setup({ total: 1000 });
    t.network.setForcedOffline(true);
    t.up.connect(endpoint, t.goodToken);
    await t.advance(10 * 60_000);
    expect(t.at).toHaveLength(0);
    expect(t.last().state).toBe('offline');
    const before = t.clock.now();
    t.network.setForcedOffline(false);
    await t.quiesce();
    expect(t.mem.acked()).toBe(1000);
    expect(t.clock.now()).toBe(before);
    t.up.stop();
  });
});

describe('uploader: a wrong token', () => {
  it('makes at most three requests a minute, even when the page answers each 401 with the same token', async () => {
    let token = 'A'.repeat(43);
    const page = () => queueMicrotask(() => t.up.connect(endpoint, token)); // the page's token function gives the same again
    const t = await setup({ total: 50, random: () => 0, onUnauthorized: page });
    t.up.connect(endpoint, token);
    await t.advance(10 * 60_000);
    expect(t.mem.dead).toHaveLength(0);
    expect(t.last()).toMatchObject({ state: 'paused', acked: 0, lastError: expect.stringMatching(/^401: this is not a Tidemark token/) });
    expect(t.unauthorized()).toBe(t.at.length);
    for (const at of t.at) expect(t.at.filter((b) => b >= at && b < at + 60_000).length).toBeLessThanOrEqual(3);
    expect(t.at.length).toBeLessThanOrEqual(21);
    // A new, different token: at once, without waiting out the pause.
    const before = t.clock.now();
    token = t.goodToken;
    t.up.connect(endpoint, token);
    await t.quiesce();
    expect(t.mem.acked()).toBe(50);
    expect(t.clock.now()).toBe(before);
    t.up.stop();
  });

  it('with jitter, a pause lasts between half of maxBackoffMs and all of it', async () => {
    const t = await setup({ total: 5, random: seededRandom(3) });
    t.up.connect(endpoint, 'B'.repeat(43));
    await t.advance(30 * 60_000);
    const gaps = t.at.slice(1).map((at, i) => at - t.at[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(30);
    for (const gap of gaps) expect(gap >= 30_000 && gap <= 60_000, String(gap)).toBe(true);
    t.up.stop();
  });

  it('a token that arrives while the refused request is under way is used at once', async () => {
    let connectDuring: (() => void) | undefined;
    const t = await setup({
      total: 5,
      fault: (_req, n) => {
        if (n === 1) connectDuring?.();
        return undefined;
      },
    });
    connectDuring = () => t.up.connect(endpoint, t.goodToken);
    t.up.connect(endpoint, 'C'.repeat(43));
    await t.quiesce();
    expect(t.mem.acked()).toBe(5);
    expect(t.clock.now()).toBe(NOW);
    t.up.stop();
  });

  it('a wrong URL (404) pauses without asking for a token; a new endpoint resumes at once', async () => {
    const t = await setup({ total: 5, random: () => 0 });
    t.up.connect('http://server.test/v9', t.goodToken);
    await t.advance(60_000);
    expect(t.last().state).toBe('paused');
    expect(t.unauthorized()).toBe(0);
    expect(t.at.length).toBeLessThanOrEqual(3);
    t.up.connect(endpoint, t.goodToken);
    await t.quiesce();
    expect(t.mem.acked()).toBe(5);
    t.up.stop();
  });
});

describe('uploader: the protocol table (test/protocol/status-table.ts)', () => {
  const answer = (status: number) =>
    status === 0
      ? Promise.reject(new TypeError('Failed to fetch'))
      : new Response(status === 204 || status === 304 ? null : '{"error":{"name":"X","message":"table"}}', { status });

  it.each(STATUS_TABLE)('$status → $decision', async ({ status, decision, newToken }) => {
    const policy = { minBackoffMs: 500, maxBackoffMs: 60_000 };
    const t = await setup({ total: 1, fault: (_req, n) => (n === 1 ? answer(status) : undefined), ...policy });
    t.up.connect(endpoint, t.goodToken);
    await t.quiesce();
    const wait = (t.last().nextAttemptAt ?? NOW) - NOW;
    expect(t.unauthorized()).toBe(newToken ? 1 : 0);
    if (decision === 'delivered') expect(t.last()).toMatchObject({ state: 'idle', acked: 1 });
    if (decision === 'refuse') expect(t.mem.dead.map((d) => [d.seq, d.status])).toEqual([[1, status]]);
    if (decision === 'retry') expect(t.last().state === 'backoff' && wait <= policy.minBackoffMs).toBe(true);
    if (decision === 'pause') expect(t.last().state === 'paused' && wait >= 30_000 && wait <= 60_000).toBe(true);
    if (decision === 'retry' || decision === 'pause') {
      expect(t.mem.dead).toHaveLength(0);
      await t.run('delivered after the wait', () => t.mem.acked() === 1);
      expect(t.clock.now() - NOW).toBe(wait);
    }
    t.up.stop();
  });

  it.each(RETRY_AFTER_TABLE)('Retry-After $header → waits $ms', async ({ header, ms }) => {
    const headers: Record<string, string> = header === null ? {} : { 'retry-after': header };
    const t = await setup({ total: 1, random: () => 0, fault: (_req, n) => (n === 1 ? new Response('{}', { status: 503, headers }) : undefined) });
    t.up.connect(endpoint, t.goodToken);
    await t.quiesce();
    expect(t.last().nextAttemptAt! - NOW).toBe(ms ?? 0); // no jitter here: Retry-After alone
    t.up.stop();
  });
});
