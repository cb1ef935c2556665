/**
 * The Nexmark queries as plain batch computations over an array of events:
 * loops and maps, no Tidemark, no watermarks. The reference the pipelines in
 * `queries.ts` are checked against. Rows are sorted (windows by end, then
 * key) so that results can be compared whatever order a stream emits them in.
 *
 * @module
 */
import type { Auction, Bid, NexmarkEvent, Person } from './generator.js';
import {
  DOLLAR_TO_EURO,
  Q3_TTL,
  type Q1Row,
  type Q2Row,
  type Q3Row,
  type Q4Row,
  type Q5Row,
  type Q7Row,
  type Q8Row,
  type Q11Row,
} from './queries.js';

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

const auctionsOf = (events: readonly NexmarkEvent[]): Auction[] => events.filter((e): e is Auction => e.kind === 'auction');
const personsOf = (events: readonly NexmarkEvent[]): Person[] => events.filter((e): e is Person => e.kind === 'person');

/** A hash join of auctions and people; a pair needs its two timestamps less than `ttl` apart (the stream's state TTL). Sorted by auction, then name. */
export function batchQ3(events: readonly NexmarkEvent[], ttl = Q3_TTL): Q3Row[] {
  const people = new Map<number, Person[]>();
  for (const p of personsOf(events)) {
    if (p.state !== 'OR' && p.state !== 'ID' && p.state !== 'CA') continue;
    people.set(p.id, [...(people.get(p.id) ?? []), p]);
  }
  const rows: Q3Row[] = [];
  for (const a of auctionsOf(events)) {
    if (a.category !== 10) continue;
    for (const p of people.get(a.seller) ?? [])
      if (Math.abs(a.dateTime - p.dateTime) < ttl) rows.push({ name: p.name, city: p.city, state: p.state, id: a.id });
  }
  return rows.sort((x, y) => x.id - y.id || (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

/** Per category: the average of its auctions' winning prices (the highest bid within [dateTime, expires]), and how many auctions had one. */
export function batchQ4(events: readonly NexmarkEvent[]): Map<number, { avg: number; auctions: number }> {
  const auctions = new Map<number, Auction>();
  for (const a of auctionsOf(events)) auctions.set(a.id, a);
  const final = new Map<number, number>();
  for (const b of bidsOf(events)) {
    const a = auctions.get(b.auction);
    if (a === undefined || b.dateTime < a.dateTime || b.dateTime > a.expires) continue;
    final.set(a.id, Math.max(final.get(a.id) ?? Number.NEGATIVE_INFINITY, b.price));
  }
  const byCategory = new Map<number, { total: number; n: number }>();
  for (const [id, price] of final) {
    const c = (auctions.get(id) as Auction).category;
    const s = byCategory.get(c) ?? { total: 0, n: 0 };
    byCategory.set(c, { total: s.total + price, n: s.n + 1 });
  }
  return new Map([...byCategory].map(([c, s]) => [c, { avg: s.total / s.n, auctions: s.n }]));
}

/** The final row per category of a running q4 stream, and its number of rows (one per closed auction). */
export function lastQ4(rows: readonly Q4Row[]): Map<number, { avg: number; auctions: number }> {
  const out = new Map<number, { avg: number; auctions: number }>();
  for (const r of rows) out.set(r.category, { avg: r.avg, auctions: (out.get(r.category)?.auctions ?? 0) + 1 });
  return out;
}

export function batchQ8(events: readonly NexmarkEvent[]): Q8Row[] {
  const SIZE = 10_000;
  const sellers = new Set<string>();
  for (const a of auctionsOf(events)) sellers.add(`${a.seller}@${Math.floor(a.dateTime / SIZE) * SIZE}`);
  const rows = new Map<string, Q8Row>();
  for (const p of personsOf(events)) {
    const start = Math.floor(p.dateTime / SIZE) * SIZE;
    const id = `${p.id}@${start}`;
    if (sellers.has(id) && !rows.has(id)) rows.set(id, { id: p.id, name: p.name, start });
  }
  return [...rows.values()].sort((a, b) => a.start - b.start || a.id - b.id);
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
