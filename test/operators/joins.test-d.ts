// Public types of the joins, count windows and keyed state.
import { from, type Observable } from 'rxjs';
import { describe, expectTypeOf, it } from 'vitest';
import {
  count,
  countWindow,
  countWindowBy,
  type CountWindowResult,
  eventTime,
  intervalJoin,
  join,
  type Joined,
  processByKey,
  type Timed,
  tumbling,
  windowJoin,
} from '../../src/index.js';

type Order = { id: number; ts: number };
type Payment = { order: number; ts: number; amount: number };
const orders$ = from([] as Order[]).pipe(eventTime({ timestamp: (o) => o.ts, maxOutOfOrderness: 0 }));
const payments$ = from([] as Payment[]).pipe(eventTime({ timestamp: (p) => p.ts, maxOutOfOrderness: 0 }));
const keys = { leftKey: (o: Order) => o.id, rightKey: (p: Payment) => p.order };

describe('join types', () => {
  it('default to { left, right } pairs; select decides otherwise', () => {
    expectTypeOf(orders$.pipe(intervalJoin(payments$, { ...keys, lower: 0, upper: 10 }))).toEqualTypeOf<Observable<Timed<Joined<Order, Payment>>>>();
    expectTypeOf(orders$.pipe(windowJoin(payments$, { ...keys, window: tumbling(10), select: (o, p, w) => o.id + p.amount + w.start }))).toEqualTypeOf<
      Observable<Timed<number>>
    >();
    expectTypeOf(orders$.pipe(join(payments$, { ...keys, ttl: 10 }))).toEqualTypeOf<Observable<Timed<Joined<Order, Payment>>>>();
  });

  it('a left-outer join pairs with undefined', () => {
    expectTypeOf(orders$.pipe(join(payments$, { ...keys, ttl: 10, outer: 'left' }))).toEqualTypeOf<Observable<Timed<Joined<Order, Payment | undefined>>>>();
    orders$.pipe(join(payments$, { ...keys, ttl: 10, outer: 'left', select: (o, p) => { expectTypeOf(p).toEqualTypeOf<Payment | undefined>(); return o.id; } }));
  });

  it('keys must have the same type on both sides, and records the inputs’ types', () => {
    // @ts-expect-error a payment is not an order
    orders$.pipe(intervalJoin(payments$, { leftKey: (p: Payment) => p.order, rightKey: (p: Payment) => p.order, lower: 0, upper: 1 }));
  });

  it('count windows and keyed state', () => {
    expectTypeOf(orders$.pipe(countWindowBy({ key: (o) => o.id, window: countWindow(3), aggregate: count() }))).toEqualTypeOf<
      Observable<Timed<CountWindowResult<number, number>>>
    >();
    const step = processByKey<Order, number, number, string>({ key: (o) => o.id, ttl: 1, process: (n, _o, ctx) => (ctx.emit(String(n)), (n ?? 0) + 1) });
    expectTypeOf(orders$.pipe(step)).toEqualTypeOf<Observable<Timed<string>>>();
  });
});
