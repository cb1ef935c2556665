// Each Nexmark query, as a Tidemark pipeline over disordered events, equals
// the plain batch computation of the same query over the same events.
import { from, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { eventTime, eventTimeBatches, type Timed } from '../../src/index.js';
import {
  batchQ0,
  batchQ1,
  batchQ2,
  batchQ3,
  batchQ4,
  batchQ5,
  batchQ7,
  batchQ8,
  batchQ11,
  lastQ4,
} from '../../bench/nexmark/batch.js';
import { type NexmarkEvent, NexmarkGenerator } from '../../bench/nexmark/generator.js';
import {
  Q4_MAX_AUCTION,
  q0,
  q1,
  q2,
  q3,
  q4,
  q5,
  q7,
  q8,
  q11,
  type Q3Row,
  type Q5Row,
  type Q7Row,
  type Q8Row,
  type Q11Row,
  timestamp,
} from '../../bench/nexmark/queries.js';

const BOUND = 3_000;
// 1 000 events/s: 300 s of event time, so 30 q7 windows, 150 q5 windows and many sessions.
const generator = new NexmarkGenerator({ seed: 2024, eventsPerSecond: 1_000, maxOutOfOrderness: BOUND });
const events = generator.events(0, 300_000);

/** Runs a query per event (eventTime) or in arrays of 1 000 (eventTimeBatches); both must agree. */
function run<R>(query: (events$: Observable<Timed<NexmarkEvent>>) => Observable<R>, batches = false): R[] {
  const out: R[] = [];
  const timed = batches
    ? from(Array.from({ length: Math.ceil(events.length / 1_000) }, (_, i) => events.slice(i * 1_000, (i + 1) * 1_000))).pipe(
        eventTimeBatches({ timestamp, maxOutOfOrderness: BOUND }),
      )
    : from(events).pipe(eventTime({ timestamp, maxOutOfOrderness: BOUND }));
  let failure: unknown;
  query(timed).subscribe({ next: (r) => out.push(r), error: (e) => (failure = e) });
  if (failure) throw failure;
  return out;
}

const byEnd = <T extends { end: number }>(key: (r: T) => number) => (a: T, b: T) => a.end - b.end || key(a) - key(b);
const q7Lines = (rows: Q7Row[]) => rows.map((r) => `${r.start}-${r.end}: ${r.bids.map((b) => JSON.stringify(b)).sort().join(' ')}`);

describe('Nexmark queries equal their batch computation', () => {
  it('the events are out of order, within the bound', () => {
    let newest = Number.NEGATIVE_INFINITY;
    let behind = 0;
    for (const e of events) {
      newest = Math.max(newest, e.dateTime);
      behind = Math.max(behind, newest - e.dateTime);
    }
    expect(behind).toBeGreaterThan(BOUND / 2);
    expect(behind).toBeLessThanOrEqual(BOUND);
  });

  it('q0 pass-through: every bid, in arrival order', () => {
    const stream = run(q0);
    const batch = batchQ0(events);
    expect(stream.length).toBe(batch.length);
    expect(stream.every((b, i) => b === batch[i])).toBe(true);
  });

  it('q1 currency conversion', () => {
    expect(JSON.stringify(run(q1))).toBe(JSON.stringify(batchQ1(events)));
  });

  it('q2 selection', () => {
    const stream = run(q2);
    expect(stream.length).toBeGreaterThan(100);
    expect(stream).toEqual(batchQ2(events));
  });

  it('q5 hot items: the auctions with the most bids per sliding window, ties included', () => {
    const stream = run(q5);
    const batch = batchQ5(events);
    expect(new Set(batch.map((r) => r.end)).size).toBeGreaterThanOrEqual(150);
    expect(batch.length).toBeGreaterThan(new Set(batch.map((r) => r.end)).size); // some windows have ties
    expect([...stream].sort(byEnd<Q5Row>((r) => r.auction))).toEqual(batch);
    expect(run(q5, true)).toEqual(stream);
  });

  it('q7 highest bid: the bids with the highest price per tumbling window', () => {
    const stream = run(q7);
    const batch = batchQ7(events);
    expect(batch.length).toBe(30);
    expect(q7Lines(stream)).toEqual(q7Lines(batch));
    expect(q7Lines(run(q7, true))).toEqual(q7Lines(stream));
  });

  it('q11 user sessions: bids per bidder session', () => {
    const stream = run(q11);
    const batch = batchQ11(events);
    expect(batch.length).toBeGreaterThan(1_000);
    expect([...stream].sort(byEnd<Q11Row>((r) => r.bidder))).toEqual(batch);
    expect(run(q11, true)).toEqual(stream);
  });

  it('q3 local item suggestion: the join with a state TTL gives the batch hash join (and the TTL loses no pair here)', () => {
    const order = (a: Q3Row, b: Q3Row) => a.id - b.id || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
    const stream = [...run(q3)].sort(order);
    const batch = batchQ3(events);
    expect(batch.length).toBeGreaterThan(100);
    expect(stream).toEqual(batch);
    expect(batchQ3(events, Number.POSITIVE_INFINITY)).toEqual(batch);
    expect([...run(q3, true)].sort(order)).toEqual(stream);
  });

  it('q4 average price per category: the running averages end at the batch averages, one row per closed auction', () => {
    expect(events.every((e) => e.kind !== 'auction' || e.expires - e.dateTime < Q4_MAX_AUCTION)).toBe(true);
    const stream = run(q4);
    const batch = batchQ4(events);
    expect(batch.size).toBe(5);
    expect(lastQ4(stream)).toEqual(batch);
    expect(run(q4, true)).toEqual(stream);
  });

  it('q8 monitor new users: people with an auction in the same 10 s window', () => {
    const stream = [...run(q8)].sort((a: Q8Row, b: Q8Row) => a.start - b.start || a.id - b.id);
    const batch = batchQ8(events);
    expect(batch.length).toBeGreaterThan(30);
    expect(stream).toEqual(batch);
    expect(run(q8, true)).toEqual(run(q8));
  });
});
