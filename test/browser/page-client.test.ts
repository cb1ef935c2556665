// The page client's logic in Node, in virtual time, over fake workers: no
// sleeps, every wait is the clock's. The same code runs over real Workers
// and IndexedDB in the *.chromium tests.
import { describe, expect, it } from 'vitest';
import { startPageClient } from '../../src/browser/page-client.js';
import { resolveRuntimeOptions, type RuntimeOptions } from '../../src/browser/runtime-options.js';
import type { PageStatus } from '../../src/browser/runtime.js';
import { RuntimeClosedError, TimeoutError, WorkerError } from '../../src/errors.js';
import { type VirtualClock, virtualClock } from '../../src/testing/index.js';
import { type Behaviour, fakeWorkers, hang, status } from './fake-worker.js';

const settings = (clock: VirtualClock, over: Partial<RuntimeOptions> = {}) =>
  resolveRuntimeOptions({ worker: () => undefined as never, clock, ...over });

/** A promise's outcome, readable without awaiting it. */
function watch<T>(promise: Promise<T>) {
  const seen: { value?: T; error?: unknown; done: boolean } = { done: false };
  promise.then(
    (value) => Object.assign(seen, { value, done: true }),
    (error: unknown) => Object.assign(seen, { error, done: true }),
  );
  return seen;
}

async function start(over: Partial<RuntimeOptions> = {}, behaviour?: Behaviour) {
  const clock = virtualClock(1_000_000);
  const fakes = fakeWorkers(clock, behaviour);
  const rt = await startPageClient<unknown, unknown>(settings(clock, over), fakes.open);
  return { clock, rt, ...fakes, t0: clock.now() };
}

describe('page client: batches', () => {
  it('sends one batch per task (or per batchSize events), not one message per event', async () => {
    const { rt, clock, appends, last } = await start({ batchSize: 4 });
    for (let i = 0; i < 6; i++) rt.emit({ i });
    expect(last().methods('append').map((c) => c.args[3])).toEqual([4]); // the full batch went at once
    await clock.settle();
    expect(appends.map((a) => a.length)).toEqual([4, 2]); // the rest at the end of the task
    await expect(rt.drain()).resolves.toEqual({ through: 6 });
  });

  it('a batch the worker could not store (IndexedDB failed) is sent again 1 s later, marked resent', async () => {
    let failed = false;
    const { rt, clock, appends } = await start({}, (method) => {
      if (method !== 'append' || failed) return undefined;
      failed = true;
      return Promise.resolve({ ok: false, refused: 2, reason: 'storage', message: 'IndexedDB: could not append' });
    });
    rt.emit(1);
    rt.emit(2);
    const drained = watch(rt.drain());
    await clock.advance(999);
    expect(appends).toHaveLength(0); // the failed one is not counted by the fake: it answered first
    expect(drained.done).toBe(false);
    await clock.advance(1);
    expect(appends).toEqual([expect.objectContaining({ length: 2, resent: true })]);
    expect(drained).toMatchObject({ done: true, value: { through: 2 } });
  });

  it('after a worker is replaced, everything not acknowledged goes again (same batch id, resent), in order, before anything new', async () => {
    const { rt, clock, appends, workers } = await start({}, (method, _a, worker) =>
      method === 'append' && worker.index === 0 ? hang() : undefined,
    );
    rt.emit('a');
    await clock.settle();
    const restarted = rt.restart();
    rt.emit('b'); // queued while the replacement starts
    await restarted;
    await clock.settle();
    expect(appends.map((a) => [a.worker, a.length, a.resent])).toEqual([
      [1, 1, true],
      [1, 1, false],
    ]);
    expect(appends[0]!.id).toBe(workers[0]!.methods('append')[0]!.args[0]);
    await expect(rt.drain()).resolves.toEqual({ through: 2 });
  });
});

describe('page client: drain()', () => {
  it('rejects with TimeoutError exactly drainTimeoutMs after it was called, not before', async () => {
    const { rt, clock, t0 } = await start({ callTimeoutMs: 60_000, drainTimeoutMs: 5_000 }, (method) =>
      method === 'processed' ? hang() : undefined,
    );
    rt.emit({ n: 1 });
    const drained = watch(rt.drain());
    await clock.advance(4_999);
    expect(drained.done).toBe(false);
    await clock.advance(1);
    expect(clock.now() - t0).toBe(5_000);
    expect(drained.error).toBeInstanceOf(TimeoutError);
    expect((drained.error as Error).message).toBe('drain() did not complete within 5000 ms; see status$ for errors');
  });

  it('rides out a worker that stops answering: replaced after callTimeoutMs, the batch re-sent (resent), then resolves', async () => {
    const { rt, clock, appends, workers, t0 } = await start({ callTimeoutMs: 1_000, drainTimeoutMs: 10_000 }, (method, _a, worker) =>
      method === 'append' && worker.index === 0 ? hang() : undefined,
    );
    rt.emit('x');
    rt.emit('y');
    const drained = watch(rt.drain());
    await clock.advance(999);
    expect(drained.done).toBe(false);
    await clock.advance(1);
    expect(workers).toHaveLength(2);
    expect(workers[0]!.dead).toBe(true);
    expect(appends).toEqual([expect.objectContaining({ length: 2, resent: true, worker: 1 })]);
    expect(drained).toMatchObject({ done: true, value: { through: 2 } });
    expect(clock.now() - t0).toBe(1_000);
  });

  it('reports refusals since the previous drain(), once', async () => {
    const { rt } = await start({}, (method) =>
      method === 'append' ? Promise.resolve({ ok: false, refused: 1, reason: 'limit', message: 'the outbox is full' }) : undefined,
    );
    rt.emit(1);
    await expect(rt.drain()).rejects.toThrow('1 of the events emitted before drain() were refused: the outbox is full');
    await expect(rt.drain()).resolves.toEqual({ through: 0 });
  });
});

describe('page client: worker restarts', () => {
  it('retries a replacement that fails to start after 100, 200, 400 … ms, at most 5 s apart; events wait meanwhile', async () => {
    const { rt, clock, workers, appends, t0 } = await start({}, (method, _a, worker) => {
      const i = worker.index;
      return method === 'start' && i >= 1 && i <= 8 ? Promise.reject(new WorkerError(`worker ${i} failed to load`)) : undefined;
    });
    const restarted = watch(rt.restart());
    await clock.advance(500);
    rt.emit('meanwhile');
    await clock.advance(16_300 - 500 - 1);
    expect(restarted.done).toBe(false);
    expect(appends).toHaveLength(0);
    await clock.advance(1);
    expect(restarted.done).toBe(true);
    expect(workers.map((w) => w.calls[0]!.at - t0)).toEqual([0, 0, 100, 300, 700, 1_500, 3_100, 6_300, 11_300, 16_300]);
    expect(workers.slice(0, 9).every((w) => w.dead)).toBe(true);
    expect(appends).toEqual([expect.objectContaining({ length: 1, worker: 9 })]);
    const seen: PageStatus[] = [];
    const sub = rt.status$.subscribe((s) => seen.push(s));
    await clock.advance(0);
    sub.unsubscribe();
    expect(seen[0]).toMatchObject({ restarts: 1, pending: 0 });
    expect(seen[0]!.errors.map((e) => e.message)).toContain('worker 8 failed to load');
  });

  it('gives a start startTimeoutMs, not callTimeoutMs: a replacement recovering its database is not ended midway', async () => {
    // A worker whose database is silent needs two of its transaction time limits to move to a fresh one.
    const { rt, clock, workers, t0 } = await start({ callTimeoutMs: 10_000, startTimeoutMs: 30_000 }, (method, _a, worker) =>
      method === 'start' && worker.index === 1 ? new Promise((r) => clock.timeout(() => r({ clientId: 'c1' }), 20_000)) : undefined,
    );
    const restarted = watch(rt.restart());
    await clock.advance(20_000);
    expect(restarted.done).toBe(true);
    expect(workers).toHaveLength(2);
    expect(workers[1]!.dead).toBe(false);
    expect(clock.now() - t0).toBe(20_000);
  });

  it('a start with no answer within startTimeoutMs fails createRuntime with a TimeoutError that says what to raise', async () => {
    const clock = virtualClock(0);
    const fakes = fakeWorkers(clock, (method) => (method === 'start' ? hang() : undefined));
    const started = watch(startPageClient(settings(clock, { startTimeoutMs: 25_000 }), fakes.open));
    await clock.advance(24_999);
    expect(started.done).toBe(false);
    await clock.advance(1);
    expect(started.error).toBeInstanceOf(TimeoutError);
    expect((started.error as Error).message).toMatch(
      /did not start within 25000 ms: .*raise createRuntime's startTimeoutMs above serveRuntime's openTimeoutMs \+ 2 × transactionTimeoutMs/,
    );
    expect(fakes.workers[0]!.dead).toBe(true);
    expect(() => settings(clock, { startTimeoutMs: -1 })).toThrow('createRuntime.startTimeoutMs');
  });

  it("a time limit of the worker's own (its database open) keeps its message: it says what to do", async () => {
    const clock = virtualClock(0);
    const own = new TimeoutError('IndexedDB open("tidemark:x") did not complete within 300 ms: … raise openTimeoutMs');
    const fakes = fakeWorkers(clock, (method) => (method === 'start' ? Promise.reject(own) : undefined));
    await expect(startPageClient(settings(clock), fakes.open)).rejects.toBe(own);
  });

  it('applies the forced-offline switch (set in this page or announced by another tab) to every replacement worker', async () => {
    const { rt, workers, last } = await start();
    last().post({ type: 'offline', offline: true }); // another tab called setOffline(true)
    await rt.restart();
    expect(workers[1]!.calls.map((c) => c.method)).toEqual(['start', 'setOffline']);
    await rt.setOffline(false);
    await rt.restart();
    expect(workers[2]!.calls.map((c) => c.method)).toEqual(['start']);
    await expect(rt.setOffline('no' as never)).rejects.toThrow('setOffline(offline): takes a boolean, got "no"');
  });

  it('offline: true holds uploads from the start: the worker gets the switch before it first connects', async () => {
    const { workers } = await start({ endpoint: 'https://example.com/v1', token: 't', offline: true });
    expect(workers[0]!.calls.map((c) => c.method)).toEqual(['start', 'setOffline', 'connect']);
    expect(workers[0]!.calls[1]!.args).toEqual([true]);
    expect(() => settings(virtualClock(), { offline: 'yes' as never })).toThrow('createRuntime.offline: takes a boolean, got "yes"');
  });

  it('a token request from the worker is answered to that worker, with a fresh token', async () => {
    const asked: string[] = [];
    const { last, clock } = await start({ endpoint: 'https://example.com/v1', token: (id) => (asked.push(id), `t${asked.length}`) });
    last().post({ type: 'token?' });
    await clock.settle();
    expect(asked).toEqual(['c1', 'c1']);
    expect(last().methods('connect').map((c) => c.args)).toEqual([
      ['https://example.com/v1', 't1'],
      ['https://example.com/v1', 't2'],
    ]);
  });
});

describe('page client: status$ and view$', () => {
  it('status$ polls every statusIntervalMs for all subscribers at once, drops an answer that comes after the next poll, and stops when nobody listens', async () => {
    let polls = 0;
    const { rt, clock, last, t0 } = await start({ statusIntervalMs: 500 }, (method) => {
      if (method !== 'status') return undefined;
      polls++;
      const late = polls === 2;
      return new Promise((resolve) => clock.timeout(() => resolve(status({ processed: late ? -1 : polls })), late ? 700 : 10));
    });
    const a: PageStatus[] = [];
    const b: PageStatus[] = [];
    const subA = rt.status$.subscribe((s) => a.push(s));
    const subB = rt.status$.subscribe((s) => b.push(s));
    await clock.advance(1_600);
    expect(last().methods('status').map((c) => c.at - t0)).toEqual([0, 500, 1_000, 1_500]);
    expect(a.map((s) => s.processed)).toEqual([1, 3, 4]); // the answer to the poll at 500 came at 1 200: dropped
    expect(b).toEqual(a);
    subA.unsubscribe();
    subB.unsubscribe();
    await clock.advance(5_000);
    expect(last().methods('status')).toHaveLength(4);
  });

  it('view$ reads at once, then after changes at most every 100 ms; results reach results$', async () => {
    const { rt, clock, last, t0 } = await start();
    const results: unknown[] = [];
    rt.results$.subscribe((r) => results.push(r));
    const views: unknown[] = [];
    const sub = rt.view$.subscribe((v) => views.push(v));
    await clock.settle();
    expect(last().methods('view').map((c) => c.at - t0)).toEqual([0]);
    last().post({ type: 'results', results: [1, 2] });
    last().post({ type: 'results', results: [3] });
    await clock.advance(50);
    last().post({ type: 'token?' }); // not a change of the view
    await clock.advance(100);
    last().post({ type: 'corrections' });
    await clock.advance(200);
    expect(last().methods('view').map((c) => c.at - t0)).toEqual([0, 100, 250]);
    expect(results).toEqual([1, 2, 3]);
    expect(views).toHaveLength(3);
    sub.unsubscribe();
    last().post({ type: 'corrections' });
    await clock.advance(1_000);
    expect(last().methods('view')).toHaveLength(3);
  });
});

describe('page client: close()', () => {
  it('waits for batches in flight at most drainTimeoutMs, then closes the worker; later calls fail clearly', async () => {
    const { rt, clock, last, t0 } = await start({ callTimeoutMs: 60_000, drainTimeoutMs: 2_000 }, (method) =>
      method === 'append' ? hang() : undefined,
    );
    rt.emit(1);
    const closed = watch(rt.close());
    await clock.advance(1_999);
    expect(last().methods('close')).toHaveLength(0);
    await clock.advance(1);
    expect(closed.done).toBe(true);
    expect(last().methods('close').map((c) => c.at - t0)).toEqual([2_000]);
    expect(last().dead).toBe(true);
    expect(rt.emit(2)).toBe(false);
    await expect(rt.drain()).rejects.toThrow(RuntimeClosedError);
    expect(() => rt.view()).toThrow('view() after close(); create a new runtime');
  });
});

describe('page client: persist', () => {
  /** Replaces `navigator.storage.persist` for one test. */
  function stubPersist(persist: (() => Promise<boolean>) | undefined) {
    const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
    Object.defineProperty(globalThis, 'navigator', { value: { storage: persist ? { persist } : undefined }, configurable: true });
    return () => (had ? Object.defineProperty(globalThis, 'navigator', had) : Reflect.deleteProperty(globalThis, 'navigator'));
  }
  /** The first status$ after subscribing (the clock runs 1 ms for it). */
  const latest = async (rt: { status$: { subscribe(f: (s: PageStatus) => void): { unsubscribe(): void } } }, clock: VirtualClock) => {
    let seen: PageStatus | undefined;
    const sub = rt.status$.subscribe((s) => (seen ??= s));
    await clock.advance(1);
    sub.unsubscribe();
    return seen;
  };

  it('asks navigator.storage.persist() once, and shows the answer as storage.persist', async () => {
    let asked = 0;
    const restore = stubPersist(() => (asked++, Promise.resolve(true)));
    try {
      const { rt, clock } = await start({ persist: true });
      await clock.advance(500);
      expect(asked).toBe(1);
      expect((await latest(rt, clock))?.storage.persist).toBe('granted');
    } finally {
      restore();
    }
  });

  it("an answer that never comes is 'no-answer' after callTimeoutMs, and reported; without the option nothing is asked", async () => {
    let asked = 0;
    const restore = stubPersist(() => (asked++, new Promise<boolean>(() => undefined)));
    try {
      const { rt, clock } = await start({ persist: true, callTimeoutMs: 3_000 });
      await clock.advance(500);
      expect((await latest(rt, clock))?.storage.persist).toBe('asking');
      await clock.advance(2_499);
      const s = await latest(rt, clock);
      expect(s?.storage.persist).toBe('no-answer');
      expect(s?.errors.map((e) => e.message).join('\n')).toMatch(/navigator\.storage\.persist\(\) did not answer within 3000 ms/);
      const quiet = await start();
      await quiet.clock.advance(500);
      expect((await latest(quiet.rt, quiet.clock))?.storage.persist).toBe('not-asked');
      expect(asked).toBe(1);
    } finally {
      restore();
    }
  });

  it("is 'unsupported' where the page has no navigator.storage.persist, and the option takes only a boolean", async () => {
    const restore = stubPersist(undefined);
    try {
      const { rt, clock } = await start({ persist: true });
      await clock.advance(500);
      expect((await latest(rt, clock))?.storage.persist).toBe('unsupported');
      expect(() => settings(virtualClock(0), { persist: 'yes' as never })).toThrow(/createRuntime\.persist: takes a boolean, got "yes"/);
    } finally {
      restore();
    }
  });
});
