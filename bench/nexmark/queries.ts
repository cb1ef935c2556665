/**
 * Nexmark queries q0, q1, q2, q5, q7 and q11 as Tidemark pipelines, each
 * beside the SQL of Flink's `nexmark` repository, which it computes. A query
 * takes the timed stream of all events (people, auctions and bids, after
 * `eventTime` or `eventTimeBatches`) and returns its result rows.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import {
  count,
  filterRecords,
  mapRecords,
  maxBy,
  records,
  session,
  sliding,
  type Timed,
  topN,
  tumbling,
  windowBy,
} from '../../src/index.js';
import type { Bid, NexmarkEvent } from './generator.js';

export const timestamp = (e: NexmarkEvent): number => e.dateTime;
export const isBid = (e: NexmarkEvent): e is Bid => e.kind === 'bid';

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
  { name: 'q5', what: 'hot items (sliding 10 s / 2 s, top auction)', query: q5, flinkPerCore: 22_000 },
  { name: 'q7', what: 'highest bid (tumbling 10 s)', query: q7, flinkPerCore: 12_000 },
  { name: 'q11', what: 'user sessions (gap 10 s)', query: q11, flinkPerCore: 40_000 },
];
