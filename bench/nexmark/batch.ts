/**
 * The Nexmark queries as plain batch computations over an array of events:
 * loops and maps, no Tidemark, no watermarks. The reference the pipelines in
 * `queries.ts` are checked against. Rows are sorted (windows by end, then
 * key) so that results can be compared whatever order a stream emits them in.
 *
 * @module
 */
import type { Bid, NexmarkEvent } from './generator.js';
import { DOLLAR_TO_EURO, type Q1Row, type Q2Row, type Q5Row, type Q7Row, type Q11Row } from './queries.js';

const bidsOf = (events: readonly NexmarkEvent[]): Bid[] => events.filter((e): e is Bid => e.kind === 'bid');

/** In arrival order, as a filter emits them. */
export function batchQ0(events: readonly NexmarkEvent[]): Bid[] {
  return bidsOf(events);
}

export function batchQ1(events: readonly NexmarkEvent[]): Q1Row[] {
  return bidsOf(events).map((b) => ({ auction: b.auction, bidder: b.bidder, price: DOLLAR_TO_EURO * b.price, dateTime: b.dateTime, extra: b.extra }));
}

export function batchQ2(events: readonly NexmarkEvent[]): Q2Row[] {
  return bidsOf(events)
    .filter((b) => b.auction % 123 === 0)
    .map((b) => ({ auction: b.auction, price: b.price }));
}

export function batchQ5(events: readonly NexmarkEvent[]): Q5Row[] {
  const SIZE = 10_000;
  const SLIDE = 2_000;
  const counts = new Map<number, Map<number, number>>(); // window start → auction → bids
  for (const b of bidsOf(events)) {
    const last = Math.floor(b.dateTime / SLIDE) * SLIDE;
    for (let start = last; start > b.dateTime - SIZE; start -= SLIDE) {
      let byAuction = counts.get(start);
      if (!byAuction) counts.set(start, (byAuction = new Map()));
      byAuction.set(b.auction, (byAuction.get(b.auction) ?? 0) + 1);
    }
  }
  const rows: Q5Row[] = [];
  for (const [start, byAuction] of counts) {
    let maxn = 0;
    for (const num of byAuction.values()) maxn = Math.max(maxn, num);
    for (const [auction, num] of byAuction) if (num >= maxn) rows.push({ auction, num, start, end: start + SIZE });
  }
  return rows.sort((a, b) => a.end - b.end || a.auction - b.auction);
}

export function batchQ7(events: readonly NexmarkEvent[]): Q7Row[] {
  const SIZE = 10_000;
  const windows = new Map<number, Bid[]>();
  for (const b of bidsOf(events)) {
    const start = Math.floor(b.dateTime / SIZE) * SIZE;
    let bids = windows.get(start);
    if (!bids) windows.set(start, (bids = []));
    bids.push(b);
  }
  const rows: Q7Row[] = [];
  for (const [start, bids] of windows) {
    let maxprice = Number.NEGATIVE_INFINITY;
    for (const b of bids) maxprice = Math.max(maxprice, b.price);
    rows.push({ start, end: start + SIZE, bids: bids.filter((b) => b.price === maxprice) });
  }
  return rows.sort((a, b) => a.end - b.end);
}

export function batchQ11(events: readonly NexmarkEvent[]): Q11Row[] {
  const GAP = 10_000;
  const times = new Map<number, number[]>();
  for (const b of bidsOf(events)) {
    let list = times.get(b.bidder);
    if (!list) times.set(b.bidder, (list = []));
    list.push(b.dateTime);
  }
  const rows: Q11Row[] = [];
  for (const [bidder, list] of times) {
    list.sort((a, b) => a - b);
    let start = list[0] as number;
    let end = start + GAP;
    let n = 0;
    for (const t of list) {
      if (t > end) {
        // A bid at exactly the end of a session still joins it (sessions that touch merge).
        rows.push({ bidder, bidCount: n, start, end });
        start = t;
        n = 0;
      }
      end = t + GAP;
      n++;
    }
    rows.push({ bidder, bidCount: n, start, end });
  }
  return rows.sort((a, b) => a.end - b.end || a.bidder - b.bidder);
}
