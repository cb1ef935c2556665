/**
 * Nexmark queries q0, q1, q2, q3, q4, q5, q7, q8 and q11 as Tidemark pipelines, each
 * beside the SQL of Flink's `nexmark` repository, which it computes. A query
 * takes the timed stream of all events (people, auctions and bids, after
 * `eventTime` or `eventTimeBatches`) and returns its result rows.
 *
 * @module
 */
import { connect, type Observable } from 'rxjs';
import {
  aggregate,
  count,
  filterRecords,
  intervalJoin,
  join,
  mapRecords,
  maxBy,
  processByKey,
  records,
  session,
  sliding,
  type Timed,
  topN,
  tumbling,
  windowBy,
  windowJoin,
} from '../../src/index.js';
import type { Auction, Bid, NexmarkEvent, Person } from './generator.js';

export const timestamp = (e: NexmarkEvent): number => e.dateTime;
export const isBid = (e: NexmarkEvent): e is Bid => e.kind === 'bid';
export const isAuction = (e: NexmarkEvent): e is Auction => e.kind === 'auction';
export const isPerson = (e: NexmarkEvent): e is Person => e.kind === 'person';

/**
 * q3's state TTL: how long (event time) a person or an auction is kept for
 * the join. Sellers are people created at most ~1 010 people earlier (or up
 * to 10 later), 5 s at 10 000 events/s and 50 s at 1 000, so a minute loses
 * no pair at these rates; the batch reference applies the same TTL.
 */
export const Q3_TTL = 60_000;
/** q4: no auction runs longer than this (the generator's auctions last up to ~3.4 s at 1 000 events/s). */
export const Q4_MAX_AUCTION = 10_000;
const Q3_STATES = new Set(['OR', 'ID', 'CA']);

/** q1's rate (Flink's q1 uses 0.908). */
export const DOLLAR_TO_EURO = 0.908;

export interface Q1Row {
  readonly auction: number;
  readonly bidder: number;
  readonly price: number;
  readonly dateTime: number;
  readonly extra: string;
}
export interface Q2Row {
  readonly auction: number;
  readonly price: number;
}
export interface Q3Row {
  readonly name: string;
  readonly city: string;
  readonly state: string;
  readonly id: number;
}
export interface Q4Row {
  readonly category: number;
  /** Average winning price of the category's auctions closed so far (a running average: one row per closed auction). */
  readonly avg: number;
}
export interface Q8Row {
  readonly id: number;
  readonly name: string;
  readonly start: number;
}
export interface Q5Row {
  readonly auction: number;
  readonly num: number;
  readonly start: number;
  readonly end: number;
}
export interface Q7Row {
  readonly start: number;
  readonly end: number;
  /** Every bid of the window with its highest price (usually one). */
  readonly bids: readonly Bid[];
}
export interface Q11Row {
  readonly bidder: number;
  readonly bidCount: number;
  readonly start: number;
  readonly end: number;
}

type Events = Observable<Timed<NexmarkEvent>>;

/**
 * q0, pass-through: measures the cost of the pipeline itself.
 * ```sql
 * SELECT auction, bidder, price, dateTime, extra FROM bid;
 * ```
 * `bid` is the events where `event_type = 2`; a bid row is the bid itself.
 */
export const q0 = (events$: Events): Observable<Bid> => events$.pipe(filterRecords(isBid), records());

/**
 * q1, currency conversion: each bid's price from dollars to euros.
 * ```sql
 * SELECT auction, bidder, 0.908 * price AS price, dateTime, extra FROM bid;
 * ```
 */
export const q1 = (events$: Events): Observable<Q1Row> =>
  events$.pipe(
    filterRecords(isBid),
    mapRecords((b) => ({ auction: b.auction, bidder: b.bidder, price: DOLLAR_TO_EURO * b.price, dateTime: b.dateTime, extra: b.extra })),
    records(),
  );

/**
 * q2, selection: the bids on a few auctions.
 * ```sql
 * SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;
 * ```
 */
export const q2 = (events$: Events): Observable<Q2Row> =>
  events$.pipe(
    filterRecords((e): e is Bid => e.kind === 'bid' && e.auction % 123 === 0),
    mapRecords((b) => ({ auction: b.auction, price: b.price })),
    records(),
  );

/**
 * q5, hot items: the auctions with the most bids in each 10 s window,
 * sliding every 2 s (ties included).
 * ```sql
 * SELECT AuctionBids.auction, AuctionBids.num FROM (
 *   SELECT auction, count(*) AS num, window_start AS starttime, window_end AS endtime
 *   FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
 *   GROUP BY auction, window_start, window_end
 * ) AS AuctionBids
 * JOIN (
 *   SELECT max(CountBids.num) AS maxn, CountBids.starttime, CountBids.endtime FROM (
 *     SELECT count(*) AS num, window_start AS starttime, window_end AS endtime
 *     FROM TABLE(HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND))
 *     GROUP BY auction, window_start, window_end
 *   ) AS CountBids
 *   GROUP BY CountBids.starttime, CountBids.endtime
 * ) AS MaxBids
 * ON AuctionBids.starttime = MaxBids.starttime AND AuctionBids.endtime = MaxBids.endtime
 *    AND AuctionBids.num >= MaxBids.maxn;
 * ```
 * The join of each window's counts with their maximum is `topN({ n: 1, ties: true })`.
 */
export const q5 = (events$: Events): Observable<Q5Row> =>
  events$.pipe(
    filterRecords(isBid),
    windowBy({ key: (b) => b.auction, window: sliding(10_000, 2_000), aggregate: count() }),
    topN({ n: 1, by: (r) => r.value, ties: true }),
    mapRecords((r) => ({ auction: r.key, num: r.value, start: r.start, end: r.end })),
    records(),
  );

/**
 * q7, highest bid: the bids with the highest price in each 10 s tumbling window.
 * ```sql
 * SELECT B.auction, B.price, B.bidder, B.dateTime, B.extra
 * FROM bid B JOIN (
 *   SELECT MAX(price) AS maxprice, window_start, window_end
 *   FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
 *   GROUP BY window_start, window_end
 * ) B1
 * ON B.price = B1.maxprice AND B.dateTime >= B1.window_start AND B.dateTime < B1.window_end;
 * ```
 * (Flink's text writes the time condition `BETWEEN window_end - 10 s AND
 * window_end`, closed at both ends, which also lets a bid stamped exactly at
 * a window's end match the previous window's maximum; the half-open form is
 * the window's own records.) The join of a window's records with its maximum
 * is the `maxBy` aggregate; one row per window holds its highest bids.
 */
export const q7 = (events$: Events): Observable<Q7Row> =>
  events$.pipe(
    filterRecords(isBid),
    windowBy({ key: () => 0, window: tumbling(10_000), aggregate: maxBy((b: Bid) => b.price) }),
    mapRecords((r) => ({ start: r.start, end: r.end, bids: r.value })),
    records(),
  );

/**
 * q11, user sessions: how many bids each bidder made per session, a
 * session ending after 10 s without a bid.
 * ```sql
 * SELECT B.bidder, count(*) AS bid_count,
 *        SESSION_START(B.dateTime, INTERVAL '10' SECOND) AS starttime,
 *        SESSION_END(B.dateTime, INTERVAL '10' SECOND) AS endtime
 * FROM bid B GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND);
 * ```
 */
export const q11 = (events$: Events): Observable<Q11Row> =>
  events$.pipe(
    filterRecords(isBid),
    windowBy({ key: (b) => b.bidder, window: session(10_000), aggregate: count() }),
    mapRecords((r) => ({ bidder: r.key, bidCount: r.value, start: r.start, end: r.end })),
    records(),
  );

/**
 * q3, local item suggestion: who sells in OR, ID or CA in category 10, and
 * which auctions. An unwindowed join with a state TTL.
 * ```sql
 * SELECT P.name, P.city, P.state, A.id
 * FROM auction AS A INNER JOIN person AS P on A.seller = P.id
 * WHERE A.category = 10 and (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
 * ```
 * Flink runs it with `table.exec.state.ttl`; here each person and auction is
 * kept {@link Q3_TTL} of event time (`join`'s `ttl`). The events are one
 * stream, split in two with RxJS `connect` so that both sides see it once.
 */
export const q3 = (events$: Events): Observable<Q3Row> =>
  events$.pipe(
    connect((all$) =>
      all$.pipe(
        filterRecords((e): e is Auction => e.kind === 'auction' && e.category === 10),
        join(all$.pipe(filterRecords((e): e is Person => e.kind === 'person' && Q3_STATES.has(e.state))), {
          leftKey: (a) => a.seller,
          rightKey: (p) => p.id,
          ttl: Q3_TTL,
          select: (a, p) => ({ name: p.name, city: p.city, state: p.state, id: a.id }),
        }),
        records(),
      ),
    ),
  );

interface Pair {
  readonly category: number;
  readonly id: number;
  readonly price: number;
}
interface Winning {
  readonly category: number;
  readonly final: number;
}

/**
 * q4, average price for a category: the average winning price of the
 * auctions of each category.
 * ```sql
 * SELECT Q.category, AVG(Q.final) FROM (
 *   SELECT MAX(B.price) AS final, A.category FROM auction A, bid B
 *   WHERE A.id = B.auction AND B.dateTime BETWEEN A.dateTime AND A.expires
 *   GROUP BY A.id, A.category
 * ) Q GROUP BY Q.category;
 * ```
 * An interval join of auctions with bids (`[0, Q4_MAX_AUCTION]`, then each
 * pair checked against the auction's own `expires`); the highest price per
 * auction is a `processByKey` whose state expires once no bid can come, and
 * whose `expire` emits the auction's final price; a second `processByKey`
 * keeps each category's running average and emits it for every closed
 * auction (Flink emits the same updates as a changelog).
 */
export const q4 = (events$: Events): Observable<Q4Row> =>
  events$.pipe(
    connect((all$) =>
      all$.pipe(
        filterRecords(isAuction),
        intervalJoin(all$.pipe(filterRecords(isBid)), {
          leftKey: (a) => a.id,
          rightKey: (b) => b.auction,
          lower: 0,
          upper: Q4_MAX_AUCTION,
          select: (a, b) => (b.dateTime <= a.expires ? { category: a.category, id: a.id, price: b.price } : undefined),
        }),
        filterRecords((p): p is Pair => p !== undefined),
        processByKey<Pair, number, Winning, Winning>({
          key: (p) => p.id,
          // Pairs of an auction are stamped within [dateTime, expires]: one ttl after the last, none can follow.
          ttl: Q4_MAX_AUCTION,
          process: (s, p) => ({ category: p.category, final: s === undefined || p.price > s.final ? p.price : s.final }),
          expire: (s, ctx) => ctx.emit(s),
        }),
        processByKey<Winning, number, { n: number; total: number }, Q4Row>({
          key: (w) => w.category,
          ttl: 365 * 86_400_000,
          process: (s, w, ctx) => {
            const next = { n: (s?.n ?? 0) + 1, total: (s?.total ?? 0) + w.final };
            ctx.emit({ category: w.category, avg: next.total / next.n });
            return next;
          },
        }),
        records(),
      ),
    ),
  );

const firstPerson = aggregate<Person, Person | null, Person>({
  create: () => null,
  add: (acc, p) => acc ?? p,
  merge: (a, b) => a ?? b,
  result: (acc) => acc as Person,
});

/**
 * q8, monitor new users: the people who entered the system and created an
 * auction in the same 10 s tumbling window.
 * ```sql
 * SELECT P.id, P.name, P.starttime FROM (
 *   SELECT id, name, window_start AS starttime, window_end AS endtime
 *   FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
 *   GROUP BY id, name, window_start, window_end
 * ) P JOIN (
 *   SELECT seller, window_start AS starttime, window_end AS endtime
 *   FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
 *   GROUP BY seller, window_start, window_end
 * ) A ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
 * ```
 * A `windowJoin` of people and auctions; the `GROUP BY`s that make each
 * (person, window) one row are a `windowBy` over the pairs (stamped with
 * their window's last millisecond, so they fall in the same window).
 */
export const q8 = (events$: Events): Observable<Q8Row> =>
  events$.pipe(
    connect((all$) =>
      all$.pipe(
        filterRecords(isPerson),
        windowJoin(all$.pipe(filterRecords(isAuction)), {
          leftKey: (p) => p.id,
          rightKey: (a) => a.seller,
          window: tumbling(10_000),
          select: (p) => p,
        }),
        windowBy({ key: (p) => p.id, window: tumbling(10_000), aggregate: firstPerson }),
        mapRecords((r) => ({ id: r.key, name: r.value.name, start: r.start })),
        records(),
      ),
    ),
  );

export interface QuerySpec {
  readonly name: string;
  readonly what: string;
  readonly query: (events$: Events) => Observable<unknown>;
  /** Flink 1.13 events/s per core, from its nexmark repository (8 cores, Kafka source, 100 M events). */
  readonly flinkPerCore: number;
}

export const QUERIES: readonly QuerySpec[] = [
  { name: 'q0', what: 'pass-through', query: q0, flinkPerCore: 155_000 },
  { name: 'q1', what: 'currency conversion', query: q1, flinkPerCore: 158_000 },
  { name: 'q2', what: 'selection', query: q2, flinkPerCore: 175_000 },
  { name: 'q3', what: 'local item suggestion (join, state TTL)', query: q3, flinkPerCore: 152_000 },
  { name: 'q4', what: 'average price per category (interval join, keyed state)', query: q4, flinkPerCore: 34_000 },
  { name: 'q5', what: 'hot items (sliding 10 s / 2 s, top auction)', query: q5, flinkPerCore: 22_000 },
  { name: 'q7', what: 'highest bid (tumbling 10 s)', query: q7, flinkPerCore: 12_000 },
  { name: 'q8', what: 'monitor new users (tumbling 10 s window join)', query: q8, flinkPerCore: 146_000 },
  { name: 'q11', what: 'user sessions (gap 10 s)', query: q11, flinkPerCore: 40_000 },
];
