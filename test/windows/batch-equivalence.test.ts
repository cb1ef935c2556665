// Rule 8: for any input whose disorder stays within maxOutOfOrderness, the
// last pane of every window equals the plain batch aggregation.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  avg,
  count,
  eventTime,
  eventTimeBatches,
  max,
  min,
  records,
  session,
  sliding,
  sum,
  tumbling,
  type WindowAssigner,
  windowBy,
} from '../../src/index.js';
import { batchWindows, latestPanes, runSync, seededRandom, shuffleWithin } from '../../src/testing/index.js';

interface E {
  k: number;
  ts: number;
  v: number;
}

const assigners = fc.oneof(
  fc.record({ size: fc.integer({ min: 1, max: 50 }), offset: fc.integer({ min: -60, max: 60 }) }).map(({ size, offset }) => tumbling(size, offset)),
  fc
    .record({ size: fc.integer({ min: 1, max: 50 }), slideDiv: fc.integer({ min: 1, max: 6 }), offset: fc.integer({ min: 0, max: 9 }) })
    .map(({ size, slideDiv, offset }) => sliding(size, Math.max(1, Math.floor(size / slideDiv)), offset)),
  fc.integer({ min: 1, max: 15 }).map((gap) => session(gap)),
);

const scenario = fc.record({
  window: assigners as fc.Arbitrary<WindowAssigner>,
  bound: fc.integer({ min: 0, max: 15 }),
  seed: fc.integer(),
  keys: fc.integer({ min: 1, max: 4 }),
  // Timestamps may be negative and repeat; a dense range makes the edge
  // cases (a record exactly at a window's end, or exactly `bound` behind) common.
  stamps: fc.array(fc.integer({ min: -20, max: 100 }), { minLength: 0, maxLength: 60 }),
  early: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
  lateness: fc.integer({ min: 0, max: 20 }),
  batch: fc.integer({ min: 1, max: 7 }),
});

const aggregates = { count: () => count(), sum: () => sum((e: E) => e.v), min: () => min((e: E) => e.v), max: () => max((e: E) => e.v), avg: () => avg((e: E) => e.v) };

type Scenario = typeof scenario extends fc.Arbitrary<infer S> ? S : never;

function check(make: () => ReturnType<typeof count>, { window, bound, seed, keys, stamps, early, lateness, batch }: Scenario) {
  const rand = seededRandom(seed);
  const events: E[] = [...stamps]
    .sort((a, b) => a - b)
    .map((ts, i) => ({ k: Math.floor(rand() * keys), ts, v: (i * 7919) % 101 }));
  // Delays of exactly 0 or exactly the bound are the edge cases (a record
  // arriving just in time), so they are drawn far more often than chance.
  const edgy = () => {
    const r = rand();
    return r < 0.35 ? 0 : r < 0.7 ? 0.999999 : rand();
  };
  const arrival = shuffleWithin(events, (e) => e.ts, bound, edgy);
  const windowOptions = {
    key: (e: E) => e.k,
    window,
    aggregate: make(),
    allowedLateness: lateness,
    late: () => {
      throw new Error('no record may be late when disorder stays within the bound');
    },
    ...(early ? { early: { count: early } } : {}),
  };
  const streamed = runSync(arrival, (s) =>
    s.pipe(eventTime({ timestamp: (e: E) => e.ts, maxOutOfOrderness: bound }), windowBy(windowOptions), records()),
  );
  const expected = batchWindows(events, { timestamp: (e) => e.ts, key: (e) => e.k, window, aggregate: make() });
  // A session's early pane may belong to a session that a later record
  // merges into a larger one: that window never fires on time. Every
  // window that did is final and must match the batch answer.
  const id = (r: { key: number; start: number; end: number }) => `${r.key}:${r.start}:${r.end}`;
  const final = new Set(streamed.filter((r) => r.timing === 'on-time').map(id));
  const superseded = streamed.filter((r) => !final.has(id(r)));
  if (window.kind !== 'session' || !early) expect(superseded).toEqual([]);
  for (const r of superseded) expect(r.timing).toBe('early');
  expect(latestPanes(streamed.filter((r) => final.has(id(r))))).toEqual(expected);
  // Exactly one on-time pane per final (key, window), panes numbered 0..n-1.
  expect(final.size).toBe(expected.length);
  const panes = new Map<string, number[]>();
  for (const r of streamed) panes.set(id(r), [...(panes.get(id(r)) ?? []), r.pane]);
  for (const list of panes.values()) expect(list).toEqual(list.map((_, i) => i));
  // The batch path gives the very same stream.
  const batches: E[][] = [];
  for (let i = 0; i < arrival.length; i += batch) batches.push(arrival.slice(i, i + batch));
  const viaBatches = runSync(batches, (s) =>
    s.pipe(eventTimeBatches({ timestamp: (e: E) => e.ts, maxOutOfOrderness: bound }), windowBy(windowOptions), records()),
  );
  expect(viaBatches).toEqual(streamed);
}

describe('batch equivalence (fast-check)', () => {
  for (const [name, make] of Object.entries(aggregates)) {
    it(`${name}: any order within the bound gives the batch answer, for tumbling, sliding and session windows`, () => {
      fc.assert(
        fc.property(scenario, (s) => check(make as () => ReturnType<typeof count>, s)),
        { numRuns: 300 },
      );
    });
  }

  it('sessions: a record exactly at a session end, arriving exactly `bound` late, still joins it', () => {
    // Sessions are where Flink's end - 1 firing would split what a batch run
    // keeps whole; run many cases of them alone.
    const sessions = fc
      .record({
        gap: fc.integer({ min: 1, max: 6 }),
        bound: fc.integer({ min: 0, max: 6 }),
        stamps: fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 30 }),
      })
      .chain(({ gap, bound, stamps }) =>
        scenario.map((s) => ({ ...s, window: session(gap) as WindowAssigner, bound, stamps, keys: 1 + (Math.abs(s.seed) % 2) })),
      );
    fc.assert(
      fc.property(sessions, (s) => check(count, s)),
      { numRuns: 1500 },
    );
  });
});
