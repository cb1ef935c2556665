/**
 * Interval-join throughput: `intervalJoin` against a hand-written loop of
 * the same semantics, in the same process. Part of `npm run bench`; also
 * runs alone: `node --expose-gc --import tsx bench/joins.bench.ts`.
 *
 * Workload: orders and payments, one event per ms on each side, 1 000
 * integer keys, each side disordered by up to 2 s; a payment matches an
 * order of the same key paid within `[0, 1 s]` (~1 pair per order). Both
 * contenders read the same array of tagged events in arrival order, keep
 * one watermark per side (`maxTs - 2000 - 1`) and join under their minimum,
 * drop late records, and purge what the watermark makes unmatchable. The
 * Tidemark run pushes each event into one of two input Observables, each
 * followed by its own `eventTime`, as a host would; the join's output is counted.
 *
 * @module
 */
import { Observable, type Subscriber } from 'rxjs';
import { eventTime, eventTimeBatches, intervalJoin, records } from '../src/index.js';
import { seededRandom, shuffleWithin } from '../src/testing/index.js';
import { alternate, type Contender, eventsPerSecond, formatRate, formatRatio, median } from './harness.js';

export interface JoinEvent {
  readonly left: boolean;
  readonly key: number;
  readonly ts: number;
}

const PER_SIDE = 1_000_000;
const KEYS = 1_000;
const DISORDER = 2_000;
const LOWER = 0;
const UPPER = 1_000;
const T0 = 1_704_067_200_000;

export function joinEvents(perSide = PER_SIDE): JoinEvent[] {
  const random = seededRandom(19);
  const events: JoinEvent[] = [];
  for (let i = 0; i < perSide; i++) {
    events.push({ left: true, key: Math.floor(random() * KEYS), ts: T0 + i });
    events.push({ left: false, key: Math.floor(random() * KEYS), ts: T0 + i });
  }
  return shuffleWithin(events, (e) => e.ts, DISORDER, random);
}

/** What both contenders compute: pairs, a checksum of their timestamps, late records. */
class Tally {
  pairs = 0;
  sum = 0;
  late = 0;
  agrees(o: Tally): boolean {
    return this.pairs === o.pairs && this.sum === o.sum && this.late === o.late;
  }
  toString(): string {
    return `${this.pairs} pairs, ${this.late} late`;
  }
}

export function tidemarkJoin(events: readonly JoinEvent[], out: Tally): void {
  // Each input is an Observable whose subscriber the loop below feeds, as a host pushes events.
  let left!: Subscriber<JoinEvent>;
  let right!: Subscriber<JoinEvent>;
  const left$ = new Observable<JoinEvent>((s) => {
    left = s;
  });
  const right$ = new Observable<JoinEvent>((s) => {
    right = s;
  });
  const stamp = { timestamp: (e: JoinEvent) => e.ts, maxOutOfOrderness: DISORDER };
  left$
    .pipe(
      eventTime(stamp),
      intervalJoin(right$.pipe(eventTime(stamp)), {
        leftKey: (e) => e.key,
        rightKey: (e) => e.key,
        lower: LOWER,
        upper: UPPER,
        late: () => out.late++,
        select: (a, b) => (a.ts > b.ts ? a.ts : b.ts) - T0,
      }),
      records(),
    )
    .subscribe((t) => {
      out.pairs++;
      out.sum += t;
    });
  for (const e of events) (e.left ? left : right).next(e);
  left.complete();
  right.complete();
}

/**
 * The same, fed in arrays: each run of 1 000 arriving events is split into
 * its left and right events, pushed as two arrays into `eventTimeBatches`
 * inputs (as a host receiving batches would). The pairs are the same: each
 * side's records stay within its own disorder bound, so none is late.
 */
export function tidemarkJoinBatches(batches: readonly (readonly [JoinEvent[], JoinEvent[]])[], out: Tally): void {
  let left!: Subscriber<JoinEvent[]>;
  let right!: Subscriber<JoinEvent[]>;
  const left$ = new Observable<JoinEvent[]>((s) => {
    left = s;
  });
  const right$ = new Observable<JoinEvent[]>((s) => {
    right = s;
  });
  const stamp = { timestamp: (e: JoinEvent) => e.ts, maxOutOfOrderness: DISORDER };
  left$
    .pipe(
      eventTimeBatches(stamp),
      intervalJoin(right$.pipe(eventTimeBatches(stamp)), {
        leftKey: (e) => e.key,
        rightKey: (e) => e.key,
        lower: LOWER,
        upper: UPPER,
        late: () => out.late++,
        select: (a, b) => (a.ts > b.ts ? a.ts : b.ts) - T0,
      }),
      records(),
    )
    .subscribe((t) => {
      out.pairs++;
      out.sum += t;
    });
  for (const [l, r] of batches) {
    left.next(l);
    right.next(r);
  }
  left.complete();
  right.complete();
}

export function joinBatches(events: readonly JoinEvent[], size = 1_000): [JoinEvent[], JoinEvent[]][] {
  const out: [JoinEvent[], JoinEvent[]][] = [];
  for (let i = 0; i < events.length; i += size) {
    const chunk = events.slice(i, i + size);
    out.push([chunk.filter((e) => e.left), chunk.filter((e) => !e.left)]);
  }
  return out;
}

interface Held {
  readonly ts: number;
  readonly key: number;
  readonly due: number;
}

/**
 * The same join by hand: per side, a `Map<key, Held[]>` in arrival order and
 * a FIFO of the same records; on a watermark advance, the FIFO is purged from
 * its front while the front is due (a record behind a not-yet-due one waits
 * a little longer; matching checks the interval anyway).
 */
export function handJoin(events: readonly JoinEvent[], out: Tally): void {
  const lists = [new Map<number, Held[]>(), new Map<number, Held[]>()];
  const fifos: Held[][] = [[], []];
  const heads = [0, 0];
  const maxTs = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  let wm = Number.NEGATIVE_INFINITY;
  const purge = (side: number) => {
    const fifo = fifos[side] as Held[];
    const map = lists[side] as Map<number, Held[]>;
    let h = heads[side] as number;
    while (h < fifo.length && (fifo[h] as Held).due <= wm) {
      const e = fifo[h++] as Held;
      const list = map.get(e.key) as Held[];
      if (list.length === 1) map.delete(e.key);
      else list.shift();
    }
    if (h > 4096 && h * 2 > fifo.length) {
      fifo.splice(0, h);
      h = 0;
    }
    heads[side] = h;
  };
  for (const e of events) {
    const side = e.left ? 0 : 1;
    if (e.ts <= wm) {
      out.late++;
    } else {
      const others = lists[1 - side]?.get(e.key);
      if (others !== undefined) {
        for (const o of others) {
          const d = e.left ? o.ts - e.ts : e.ts - o.ts;
          if (d >= LOWER && d <= UPPER) {
            out.pairs++;
            out.sum += (e.ts > o.ts ? e.ts : o.ts) - T0;
          }
        }
      }
      const due = e.left ? e.ts + UPPER : e.ts - LOWER;
      if (due > wm) {
        const held: Held = { ts: e.ts, key: e.key, due };
        const map = lists[side] as Map<number, Held[]>;
        const list = map.get(e.key);
        if (list === undefined) map.set(e.key, [held]);
        else list.push(held);
        (fifos[side] as Held[]).push(held);
      }
    }
    if (e.ts > (maxTs[side] as number)) {
      maxTs[side] = e.ts;
      const next = Math.min(maxTs[0] as number, maxTs[1] as number) - DISORDER - 1;
      if (next > wm) {
        wm = next;
        purge(0);
        purge(1);
      }
    }
  }
}

export interface JoinRow {
  readonly workload: string;
  readonly rate: number;
  readonly baseline: string;
  readonly baselineRate: number;
}

/** Verifies both agree, then times them in alternating rounds. Rates count input events (both sides). */
export function joinThroughput(rounds = 7, events = joinEvents()): JoinRow[] {
  const check = (run: (out: Tally) => void) => {
    const t = new Tally();
    run(t);
    return t;
  };
  const batches = joinBatches(events);
  const a = check((t) => handJoin(events, t));
  for (const [name, b] of [
    ['tidemark', check((t) => tidemarkJoin(events, t))],
    ['tidemark, arrays', check((t) => tidemarkJoinBatches(batches, t))],
  ] as const)
    if (!a.agrees(b)) {
      console.error(`interval join: ${name} (${b}) disagrees with the hand loop (${a})`);
      process.exit(1);
    }
  console.log(`interval join: hand loop, tidemark per event and in arrays agree (${a})`);
  const contenders: Contender[] = [
    { name: 'hand loop', run: () => handJoin(events, new Tally()) },
    { name: 'tidemark', run: () => tidemarkJoin(events, new Tally()) },
    { name: 'tidemark, arrays', run: () => tidemarkJoinBatches(batches, new Tally()) },
  ];
  const samples = alternate(contenders, rounds, 1);
  for (const [name, s] of samples)
    console.log(`  ${name}: median ${(median(s) * 1_000).toFixed(0)} ms (runs: ${s.map((t) => (t * 1_000).toFixed(0)).join(', ')} ms)`);
  const hand = eventsPerSecond(samples, 'hand loop', events.length);
  const what = `intervalJoin [0, 1 s], ${KEYS} keys, ${events.length.toLocaleString('en-US')} events (both sides)`;
  return [
    { workload: `${what}, per event`, rate: eventsPerSecond(samples, 'tidemark', events.length), baseline: 'hand loop', baselineRate: hand },
    { workload: `${what}, arrays of 1,000`, rate: eventsPerSecond(samples, 'tidemark, arrays', events.length), baseline: 'hand loop', baselineRate: hand },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = joinThroughput(Number(process.argv[2] ?? 7), joinEvents(Number(process.argv[3] ?? PER_SIDE)));
  for (const r of rows)
    console.log(`| ${r.workload} | ${formatRate(r.rate)} | ${r.baseline} (${formatRate(r.baselineRate)}) | ${formatRatio(r.rate / r.baselineRate)} |`);
}
