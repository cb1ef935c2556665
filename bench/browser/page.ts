// The page of the browser benchmark (driven by bench/browser/run.ts): every
// workload runs here, in rounds, and answers raw samples in milliseconds;
// the driver takes medians and percentiles. Times are `performance.now()`
// in this page (5 µs resolution: the site is served cross-origin isolated).
import { createRuntime, type PageStatus, type Runtime } from '../../src/browser/index.js';
import { createPipeline, type PipelineInput } from '../../src/index.js';
import { type Ev, type EvColumns, type Kind, PIPELINES, row } from './pipelines.js';

/** 2024-01-01T00:00:00Z. */
const T0 = 1_704_067_200_000;
const PAGES = Array.from({ length: 10 }, (_, i) => `/p${i}`);

const now = () => performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (...args: unknown[]) => console.log('[page]', ...args);

/** Runs `rounds` rounds in alternating order (A B C, C B A, …) after `warmup` untimed passes; each contender answers its own sample. */
async function alternate<C extends Record<string, () => Promise<unknown>>>(
  contenders: C,
  rounds: number,
  warmup: number,
): Promise<{ [K in keyof C]: Awaited<ReturnType<C[K]>>[] }> {
  type K = keyof C & string;
  const names = Object.keys(contenders) as K[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as unknown[]])) as { [K in keyof C]: Awaited<ReturnType<C[K]>>[] };
  for (let w = 0; w < warmup; w++) for (const n of names) await (contenders[n] as () => Promise<unknown>)();
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse();
    for (const n of order) {
      const s = await (contenders[n] as () => Promise<unknown>)();
      (samples[n] as unknown[]).push(s);
      log(`round ${r + 1}/${rounds} ${n}: ${describeSample(s)}`);
    }
  }
  return samples;
}

/** A sample for the log: numbers rounded, latency arrays as count, p50, p99 and max. */
function describeSample(sample: unknown): string {
  const round = (v: number) => Math.round(v * 1000) / 1000;
  return JSON.stringify(sample, (_, v) => {
    if (typeof v === 'number') return round(v);
    if (Array.isArray(v) && v.length > 0 && typeof v[0] === 'number') {
      const sorted = [...(v as number[])].sort((a, b) => a - b);
      const at = (p: number) => round(sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] as number);
      return `n=${sorted.length} p50=${at(0.5)} p99=${at(0.99)} max=${at(1)}`;
    }
    return v;
  });
}

// ---------------------------------------------------------------- runtime

/** What the page sees of the worker besides comlink: the into-the-worker mark and every append receipt. */
interface Probe {
  /** Page time at which the worker had received the `into`-th event (NaN until then). */
  intoAt: number;
  /** Page time at which each append receipt arrived, with the last sequence number it made durable. */
  readonly receipts: { last: number; t: number }[];
}

interface Started {
  readonly rt: Runtime<Ev, unknown>;
  readonly probe: Probe;
  /** Closes the runtime and deletes its database. */
  dispose(): Promise<void>;
}

let instances = 0;
/** Worker settings applied to every runtime on top of each workload's (set by the driver, for diagnosis). */
let override: Record<string, number> = {};

async function start(
  kind: Kind,
  settings: Record<string, number> = {},
  encoding: 'json' | 'structured-clone' = 'json',
): Promise<Started> {
  const name = `bench-${kind}-${++instances}`;
  const query = new URLSearchParams({ name, kind });
  for (const [k, v] of Object.entries({ ...settings, ...override })) query.set(k, String(v));
  const probe: Probe = { intoAt: Number.NaN, receipts: [] };
  const rt = await createRuntime<Ev, unknown>({
    worker: () => {
      const w = new Worker(`/runtime.worker.js?${query}`, { type: 'module' });
      // Registered before comlink's listener, so `t` is when the page got the message.
      w.addEventListener('message', (e: MessageEvent) => {
        const t = now();
        const d = e.data as { benchInto?: number; type?: string; value?: { ok?: unknown; last?: unknown; duplicate?: unknown } };
        if (typeof d?.benchInto === 'number') probe.intoAt = d.benchInto - performance.timeOrigin;
        // An append receipt as comlink returns it: { id, type: 'RAW', value: { ok, first, last, duplicate } }.
        else if (d?.type === 'RAW' && d.value?.ok === true && typeof d.value.last === 'number' && typeof d.value.duplicate === 'boolean')
          probe.receipts.push({ last: d.value.last, t });
      });
      return w;
    },
    encoding,
    drainTimeoutMs: 60_000,
    callTimeoutMs: 20_000,
  });
  return {
    rt,
    probe,
    async dispose() {
      await rt.close();
      await deleteDatabase(`tidemark:${name}`);
    },
  };
}

function statusOf(rt: Runtime<Ev, unknown>): Promise<PageStatus> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('status$ gave nothing within 10 s')), 10_000);
    const sub = rt.status$.subscribe((s) => {
      clearTimeout(timer);
      resolve(s);
      queueMicrotask(() => sub.unsubscribe());
    });
  });
}

/** Fails the run unless exactly `n` events were stored and processed, with nothing dropped, refused, restarted or reported. */
async function verify(label: string, rt: Runtime<Ev, unknown>, n: number): Promise<PageStatus> {
  const s = await statusOf(rt);
  const wrong =
    s.appended !== n ||
    s.processed !== n ||
    s.outbox.events !== n ||
    s.pending !== 0 ||
    s.dropped + s.refused + s.expired + s.restarts + s.lateRecords !== 0 ||
    s.failed ||
    s.errors.length > 0 ||
    !s.leader;
  if (wrong) throw new Error(`${label}: expected ${n} events stored and processed cleanly, got status ${JSON.stringify(s)}`);
  return s;
}

function deleteDatabase(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`deleteDatabase(${name}) did not finish within 10 s`)), 10_000);
    const req = indexedDB.deleteDatabase(name);
    req.onsuccess = () => {
      clearTimeout(timer);
      resolve();
    };
    req.onerror = () => {
      clearTimeout(timer);
      reject(req.error ?? new Error(`deleteDatabase(${name}) failed`));
    };
  });
}

// ---------------------------------------------------------------- data

/** `n` events over 10 pages and 10 000 users, in order, one per ms of event time. */
function makeEvents(n: number): Ev[] {
  const events: Ev[] = new Array(n);
  let seed = 12_345;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) | 0;
    events[i] = { page: PAGES[(seed >>> 16) % 10] as string, user: (seed >>> 8) % 10_000, ts: T0 + i };
  }
  return events;
}

/** The same events as columns, `rows` per batch, each batch with its own buffers (a subarray would clone its whole buffer). */
function makeColumns(n: number, rows: number): EvColumns[] {
  const events = makeEvents(n);
  const batches: EvColumns[] = [];
  for (let i = 0; i < n; i += rows) {
    const length = Math.min(rows, n - i);
    const b = { length, page: new Uint8Array(length), user: new Int32Array(length), ts: new Float64Array(length) };
    for (let j = 0; j < length; j++) {
      const e = events[i + j] as Ev;
      b.page[j] = Number((e.page as string).slice(2));
      b.user[j] = e.user;
      b.ts[j] = e.ts;
    }
    batches.push(b);
  }
  return batches;
}

// ---------------------------------------------------------------- baseline worker

let counter: Worker | undefined;

/** Posts with `post` to the counting worker and answers ms until it has received `target` events. */
function counted(target: number, post: (w: Worker) => void): Promise<{ total: number; loop: number; into: number }> {
  counter ??= new Worker('/counter.worker.js', { type: 'module' });
  const w = counter;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the counting worker did not answer within 60 s')), 60_000);
    w.postMessage({ benchReset: target });
    let loop = Number.NaN;
    const t0 = now();
    w.onmessage = (e: MessageEvent<{ done: number; at: number }>) => {
      const total = now() - t0;
      clearTimeout(timer);
      if (e.data.done !== target) reject(new Error(`the counting worker got ${e.data.done} events, expected ${target}`));
      else resolve({ total, loop, into: e.data.at - performance.timeOrigin - t0 });
    };
    w.onerror = (e) => reject(new Error(`the counting worker failed: ${e.message}`));
    post(w);
    loop = now() - t0;
  });
}

// ---------------------------------------------------------------- raw IndexedDB

function openDb(name: string, stores: readonly string[]): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(name, 1);
    req.onupgradeneeded = () => {
      for (const store of stores) req.result.createObjectStore(store);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
    req.onblocked = () => reject(new Error(`indexedDB.open(${name}) is blocked`));
  });
}

/** ms from opening a readwrite transaction on `store` to its `complete` event, `fill` included. */
function timedTx(db: IDBDatabase, store: string, fill: (s: IDBObjectStore) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const tx = db.transaction(store, 'readwrite');
    fill(tx.objectStore(store));
    tx.oncomplete = () => resolve(now() - t0);
    tx.onerror = tx.onabort = () => reject(tx.error ?? new Error('transaction aborted'));
  });
}

/** Puts `records` under keys 0, 1, … in one transaction, into an emptied store; answers its ms. */
async function putAll(db: IDBDatabase, store: string, records: readonly unknown[]): Promise<{ total: number }> {
  await timedTx(db, store, (st) => st.clear());
  const total = await timedTx(db, store, (st) => {
    for (let i = 0; i < records.length; i++) st.put(records[i], i);
  });
  return { total };
}

// ---------------------------------------------------------------- 1. emit() objects

export interface RuntimeSample {
  /** First emit to drain() resolving (durable and processed). */
  readonly total: number;
  /** The synchronous emit loop, flushes included. */
  readonly loop: number;
  /** First emit to the worker having received the last event. */
  readonly into: number;
}

async function runtimeRound(
  kind: Kind,
  n: number,
  emitAll: (rt: Runtime<Ev, unknown>) => void,
  settings: Record<string, number> = {},
  encoding: 'json' | 'structured-clone' = 'json',
): Promise<RuntimeSample> {
  const s = await start(kind, { ...settings, into: n }, encoding);
  try {
    const t0 = now();
    emitAll(s.rt);
    const t1 = now();
    await s.rt.drain();
    const t2 = now();
    if (Number.isNaN(s.probe.intoAt)) throw new Error('no into-the-worker time: did comlink change its message format?');
    await verify(`${kind} runtime`, s.rt, n);
    return { total: t2 - t0, loop: t1 - t0, into: s.probe.intoAt - t0 };
  } finally {
    await s.dispose();
  }
}

/** The same count pipeline in the page, no worker and no storage: what processing alone costs. */
async function pipelineOnly(feed: (run: PipelineInput<Ev>) => void) {
  const t0 = now();
  let fired = 0;
  const run = createPipeline(PIPELINES.count).open(() => fired++);
  feed(run);
  run.unsubscribe();
  return { total: now() - t0, fired };
}

/** The runtime's default batch size: the raw IndexedDB baseline stores records of this many events, as the outbox does. */
const RUNTIME_BATCH = 4_096;

async function emitObjects(o: { n: number; perEventN: number; batch: number; rounds: number; warmup: number }) {
  const events = makeEvents(o.n);
  const perEvent = events.slice(0, o.perEventN);
  const slices = (size: number) => {
    const out: Ev[][] = [];
    for (let i = 0; i < o.n; i += size) out.push(events.slice(i, i + size));
    return out;
  };
  const batches = slices(o.batch);
  const records = slices(RUNTIME_BATCH);
  const emitAll = (rt: Runtime<Ev, unknown>) => {
    for (let i = 0; i < events.length; i++) rt.emit(events[i] as Ev);
  };
  const db = await openDb('bench-raw', ['objects']);
  try {
    return await alternate(
      {
        runtime: () => runtimeRound('count', o.n, emitAll),
        appendOnly: () => runtimeRound('none', o.n, emitAll),
        // The other encoding: objects cloned to the worker and again into IndexedDB.
        structuredClone: () => runtimeRound('count', o.n, emitAll, {}, 'structured-clone'),
        postPerEvent: () =>
          counted(o.perEventN, (w) => {
            for (let i = 0; i < perEvent.length; i++) w.postMessage(perEvent[i]);
          }),
        postBatches: () =>
          counted(o.n, (w) => {
            for (let i = 0; i < batches.length; i++) w.postMessage(batches[i]);
          }),
        idbPut: () => putAll(db, 'objects', records),
        pipelineOnly: () =>
          pipelineOnly((run) => {
            for (let i = 0; i < events.length; i++) run.push(events[i] as Ev);
          }),
      },
      o.rounds,
      o.warmup,
    );
  } finally {
    db.close();
    await deleteDatabase('bench-raw');
  }
}

// ---------------------------------------------------------------- 2. emitColumns()

async function emitColumns(o: { n: number; rows: number; rounds: number; warmup: number }) {
  const batches = makeColumns(o.n, o.rows);
  const emitAll = (rt: Runtime<Ev, unknown>) => {
    for (let i = 0; i < batches.length; i++) rt.emitColumns(batches[i] as EvColumns);
  };
  const db = await openDb('bench-raw', ['columns']);
  try {
    return await alternate(
      {
        runtime: () => runtimeRound('count', o.n, emitAll),
        // The same with automatic checkpoints off: shows what checkpointing (every 100 000 events or 1 s) costs here.
        noCheckpoints: () => runtimeRound('count', o.n, emitAll, { everyEvents: 1e9, everyMs: 1e9 }),
        postColumns: () =>
          counted(o.n, (w) => {
            for (let i = 0; i < batches.length; i++) w.postMessage(batches[i]);
          }),
        idbPut: () => putAll(db, 'columns', batches),
        pipelineOnly: () =>
          pipelineOnly((run) => {
            for (const b of batches) for (let i = 0; i < b.length; i++) run.push(row(b, i));
          }),
      },
      o.rounds,
      o.warmup,
    );
  } finally {
    db.close();
    await deleteDatabase('bench-raw');
  }
}

// ---------------------------------------------------------------- paced emission

/** One tick of a paced run: when it emitted, the events' `ts`, how many, and the sequence number of its first event. */
interface Tick {
  readonly at: number;
  readonly ts: number;
  readonly first: number;
  readonly count: number;
}

type PostTask = (task: () => void, options: { delay: number }) => Promise<unknown>;
const postTask = (globalThis as { scheduler?: { postTask?: PostTask } }).scheduler?.postTask?.bind(
  (globalThis as { scheduler?: unknown }).scheduler,
) as PostTask | undefined;

/** The timer the paced runs use: `scheduler.postTask` with a 1 ms delay (~1.1 ms here); a `setTimeout` chain is clamped to 4 ms. */
export const TICKER = postTask ? 'scheduler.postTask({ delay: 1 })' : 'setTimeout(1)';

/**
 * Emits `perMs` events per millisecond for `durationMs`, from a ~1 ms
 * timer; a tick that comes late emits for every millisecond it missed, so
 * the rate holds whatever the timer's real period is.
 */
function paced(rt: Runtime<Ev, unknown>, perMs: number, durationMs: number, firstSeq = 1): Promise<Tick[]> {
  const ticks: Tick[] = [];
  let seq = firstSeq;
  let user = 0;
  const start = now();
  let due = 0;
  return new Promise((resolve, reject) => {
    const tick = () => {
      try {
        const at = now();
        const elapsed = Math.min(at - start, durationMs);
        const slots = Math.floor(elapsed) + 1 - due;
        if (slots > 0) {
          const ts = Date.now();
          const count = slots * perMs;
          for (let i = 0; i < count; i++) rt.emit({ page: PAGES[i % PAGES.length] as string, user: user++ % 10_000, ts });
          ticks.push({ at, ts, first: seq, count });
          seq += count;
          due += slots;
        }
        if (at - start >= durationMs) resolve(ticks);
        else if (postTask) postTask(tick, { delay: 1 }).catch(reject);
        else setTimeout(tick, 1);
      } catch (err) {
        reject(err);
      }
    };
    tick();
  });
}

/** Per tick: ms from its emit to the first append receipt covering its first event. */
function durableLatencies(ticks: readonly Tick[], receipts: readonly { last: number; t: number }[]): number[] {
  const out: number[] = [];
  let r = 0;
  for (const tick of ticks) {
    while (r < receipts.length && (receipts[r] as { last: number }).last < tick.first) r++;
    const receipt = receipts[r];
    if (!receipt) throw new Error(`no append receipt covers sequence ${tick.first}`);
    out.push(receipt.t - tick.at);
  }
  return out;
}

export interface PacedSample {
  readonly durable: number[];
  readonly ticks: number;
  readonly medianTickMs: number;
  readonly events: number;
}

function tickStats(ticks: readonly Tick[]) {
  const gaps = ticks
    .slice(1)
    .map((t, i) => t.at - (ticks[i] as Tick).at)
    .sort((a, b) => a - b);
  return { ticks: ticks.length, medianTickMs: gaps[gaps.length >> 1] ?? Number.NaN };
}

// ---------------------------------------------------------------- 3. emit → durable

/**
 * The raw IndexedDB baseline of emit → durable: the same paced events, one
 * readwrite transaction per tick in the page (each tick's events as one
 * record); per tick, ms to its transaction's `complete`.
 */
async function idbPaced(perMs: number, durationMs: number, durability: IDBTransactionDurability): Promise<{ durable: number[] }> {
  const db = await openDb('bench-paced', ['outbox']);
  try {
    const durable: number[] = [];
    const pending: Promise<void>[] = [];
    const start = now();
    let due = 0;
    let key = 0;
    await new Promise<void>((resolve, reject) => {
      const tick = () => {
        const at = now();
        const slots = Math.floor(Math.min(at - start, durationMs)) + 1 - due;
        if (slots > 0) {
          const ts = Date.now();
          const events: Ev[] = [];
          for (let i = 0; i < slots * perMs; i++) events.push({ page: PAGES[i % PAGES.length] as string, user: i, ts });
          due += slots;
          const tx = db.transaction('outbox', 'readwrite', { durability });
          tx.objectStore('outbox').put(events, key++);
          pending.push(
            new Promise((done, fail) => {
              tx.oncomplete = () => {
                durable.push(now() - at);
                done();
              };
              tx.onerror = tx.onabort = () => fail(tx.error ?? new Error('transaction aborted'));
            }),
          );
        }
        if (at - start >= durationMs) resolve();
        else if (postTask) postTask(tick, { delay: 1 }).catch(reject);
        else setTimeout(tick, 1);
      };
      tick();
    });
    await Promise.all(pending);
    return { durable };
  } finally {
    db.close();
    await deleteDatabase('bench-paced');
  }
}

/** Emit → durable per batch at a steady rate, with processing negligible. */
async function appendLatency(o: { perMs: number; durationMs: number; rounds: number; warmup: number }) {
  return alternate(
    {
      paced: async (): Promise<PacedSample> => {
        const s = await start('none');
        try {
          const ticks = await paced(s.rt, o.perMs, o.durationMs);
          await s.rt.drain();
          const events = ticks.reduce((n, t) => n + t.count, 0);
          await verify('paced append', s.rt, events);
          return { durable: durableLatencies(ticks, s.probe.receipts), events, ...tickStats(ticks) };
        } finally {
          await s.dispose();
        }
      },
      // The runtime's transactions use the default durability, too.
      idbPaced: () => idbPaced(o.perMs, o.durationMs, 'default'),
    },
    o.rounds,
    o.warmup,
  );
}

// ---------------------------------------------------------------- 4. speed-layer latency

export interface LatencySample extends PacedSample {
  /** Per window result: arrival on results$ minus the emit of the first event with ts ≥ the window's end. */
  readonly result: number[];
  readonly results: number;
}

async function latencyRound(perMs: number, durationMs: number, settings: Record<string, number>): Promise<LatencySample> {
  const s = await start('latency', settings);
  const arrivals: { end: number; t: number }[] = [];
  const sub = s.rt.results$.subscribe((r) => {
    const t = now();
    // results$ carries the window results themselves (the worker unwraps timed records).
    const end = (r as { end?: unknown }).end;
    if (typeof end === 'number') arrivals.push({ end, t });
  });
  try {
    const ticks = await paced(s.rt, perMs, durationMs);
    await s.rt.drain();
    await sleep(50); // the last results cross the BroadcastChannel
    const events = ticks.reduce((n, t) => n + t.count, 0);
    await verify('speed layer', s.rt, events);
    const result: number[] = [];
    let k = 0;
    for (const a of arrivals.sort((x, y) => x.end - y.end || x.t - y.t)) {
      while (k < ticks.length && (ticks[k] as Tick).ts < a.end) k++;
      const closer = ticks[k];
      if (!closer) throw new Error(`a result for the window ending ${a.end} arrived, but no event closed it`);
      result.push(a.t - closer.at);
    }
    if (result.length === 0) throw new Error('no window result arrived on results$');
    return { result, results: result.length, durable: durableLatencies(ticks, s.probe.receipts), events, ...tickStats(ticks) };
  } finally {
    sub.unsubscribe();
    await s.dispose();
  }
}

async function speedLatency(o: { perMs: number; durationMs: number; rounds: number; warmup: number }) {
  return alternate({ latency: () => latencyRound(o.perMs, o.durationMs, {}) }, o.rounds, o.warmup);
}

// ---------------------------------------------------------------- 5. checkpoint of open windows

async function checkpointOpen(o: { windows: number; manyRecords: number; rounds: number; warmup: number }) {
  const s = await start('open', { everyEvents: 1e9, everyMs: 1e9 });
  const db = await openDb('bench-raw', ['one', 'many']);
  try {
    for (let i = 0; i < o.windows; i++) s.rt.emit({ page: '/p0', user: i, ts: T0 });
    await s.rt.drain();
    let emitted = o.windows;
    const before = await verify('open windows', s.rt, emitted);
    if (before.state.openWindows !== o.windows) throw new Error(`expected ${o.windows} open windows, got ${before.state.openWindows}`);

    // The same state built in the page: its snapshot is what the worker stores.
    const local = createPipeline(PIPELINES.open).open(() => undefined);
    for (let i = 0; i < o.windows; i++) local.push({ page: '/p0', user: i, ts: T0 });
    const snapshot = local.snapshot();
    const columns = { keys: new Float64Array(o.windows).map((_, i) => i), counts: new Float64Array(o.windows).fill(1) };

    const samples = await alternate(
      {
        runtime: async () => {
          // A checkpoint is skipped when nothing was processed since the last one: add one event first.
          s.rt.emit({ page: '/p0', user: 0, ts: T0 });
          emitted++;
          await s.rt.drain();
          const t0 = now();
          await s.rt.checkpoint();
          const roundTrip = now() - t0;
          const st = await verify('checkpoint', s.rt, emitted);
          const cp = st.lastCheckpoint;
          if (!cp || cp.seq !== emitted || cp.openWindows !== o.windows)
            throw new Error(`the checkpoint does not cover ${emitted} events and ${o.windows} windows: ${JSON.stringify(cp)}`);
          return { durationMs: cp.durationMs, roundTrip };
        },
        snapshotInPage: async () => {
          const t0 = now();
          local.snapshot();
          return now() - t0;
        },
        putColumnar: () => timedTx(db, 'one', (st) => st.put(columns, 'latest')),
        putSnapshot: () => timedTx(db, 'one', (st) => st.put({ seq: emitted, at: Date.now(), snapshot, view: undefined }, 'latest')),
        putMany: () =>
          timedTx(db, 'many', (st) => {
            for (let i = 0; i < o.manyRecords; i++) st.put({ key: i, count: 1 }, i);
          }),
      },
      o.rounds,
      o.warmup,
    );
    local.unsubscribe();
    return { ...samples, snapshotBytes: JSON.stringify(snapshot).length };
  } finally {
    db.close();
    await s.dispose();
    await deleteDatabase('bench-raw');
  }
}

const bench = {
  configure(o: { worker: Record<string, number> }) {
    override = { ...o.worker };
  },
  emitObjects,
  emitColumns,
  appendLatency,
  speedLatency,
  checkpointOpen,
  info: () => ({ userAgent: navigator.userAgent, crossOriginIsolated, hardwareConcurrency: navigator.hardwareConcurrency, ticker: TICKER }),
};
Object.assign(globalThis, { bench });
export type Bench = typeof bench;
