import fc from 'fast-check';
import { map, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { count, createPipeline, eventTime, session, sliding, tumbling, windowBy } from '../../src/index.js';
import { batchWindows, latestPanes } from '../../src/testing/index.js';
import type { WindowResult } from '../../src/windows/window-result.js';

type Ev = { k: string; at: number };
const pipelines = {
  tumbling: (e$: Observable<Ev>) =>
    e$.pipe(eventTime({ timestamp: (e: Ev) => e.at, maxOutOfOrderness: 10 }), windowBy({ key: (e) => e.k, window: tumbling(100), aggregate: count(), early: { count: 2 } })),
  sliding: (e$: Observable<Ev>) =>
    e$.pipe(eventTime({ timestamp: (e: Ev) => e.at, maxOutOfOrderness: 0 }), windowBy({ key: (e) => e.k, window: sliding(100, 50), aggregate: count() })),
  session: (e$: Observable<Ev>) =>
    e$.pipe(eventTime({ timestamp: (e: Ev) => e.at, maxOutOfOrderness: 0 }), windowBy({ key: (e) => e.k, window: session(30), aggregate: count() })),
};
const assigners = { tumbling: tumbling(100), sliding: sliding(100, 50), session: session(30) };

function runBatch(kind: keyof typeof pipelines, events: readonly Ev[]) {
  const out: WindowResult<string, number>[] = [];
  const run = createPipeline(pipelines[kind]).open(
    (r) => (r as { kind: string }).kind === 'record' && out.push((r as { value: WindowResult<string, number> }).value),
    { mode: 'batch' },
  );
  run.pushAll(events);
  const firedBeforeEnd = out.length;
  run.end();
  return { out, firedBeforeEnd, stats: run.stats() };
}

describe("RunOptions.mode 'batch' (the batch layer's run over a complete log)", () => {
  it('in any order, nothing is late, nothing fires before the end, and every window fires once with the batch answer', () => {
    const event = fc.record({ k: fc.constantFrom('a', 'b'), at: fc.integer({ min: 0, max: 2_000 }) });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 200 }), fc.constantFrom('tumbling', 'sliding', 'session'), (events, kind) => {
        const k = kind as keyof typeof pipelines;
        const { out, firedBeforeEnd, stats } = runBatch(k, events);
        expect(firedBeforeEnd).toBe(0);
        expect(out.every((r) => r.timing === 'on-time' && r.pane === 0)).toBe(true);
        expect(latestPanes(out)).toEqual(batchWindows(events, { timestamp: (e) => e.at, key: (e) => e.k, window: assigners[k], aggregate: count() }));
        expect(stats['windowBy#0']?.lateRecords).toBe(0);
      }),
      { numRuns: 200 },
    );
  });

  it("stream mode is unchanged: the same input out of order drops late records", () => {
    const events = [{ k: 'a', at: 500 }, { k: 'a', at: 10 }];
    const out: unknown[] = [];
    const run = createPipeline(pipelines.tumbling).open((r) => out.push(r));
    run.pushAll(events);
    expect(run.stats()['windowBy#0']?.lateRecords).toBe(1);
    expect(runBatch('tumbling', events).stats['windowBy#0']?.lateRecords).toBe(0);
  });

  it('refuses an unknown mode', () => {
    expect(() => createPipeline(pipelines.tumbling).open(() => undefined, { mode: 'bulk' as never })).toThrow(/mode/);
  });
});

describe('PipelineRun.timestamp: the event time the pipeline gives an input event', () => {
  it('is the first eventTime reading the input directly', () => {
    const run = createPipeline(pipelines.tumbling).open(() => undefined);
    expect((run.timestamp as (e: Ev) => number)({ k: 'a', at: 42 })).toBe(42);
  });

  it('is undefined when the pipeline changes events before stamping them', () => {
    const mapped = (e$: Observable<Ev>) =>
      e$.pipe(map((e) => ({ ...e, at: e.at * 2 })), eventTime({ timestamp: (e: Ev) => e.at, maxOutOfOrderness: 0 }));
    expect(createPipeline(mapped).open(() => undefined).timestamp).toBeUndefined();
  });
});
