/**
 * Two timed inputs, one watermark (internal): the wiring every two-input
 * operator (the joins) shares.
 *
 * The combined watermark is the one {@link WatermarkMultiplexer} that
 * per-source watermarks use, with the two inputs as its sources `'left'` and
 * `'right'`: the minimum of the inputs' watermarks, never going back; with
 * `idleTimeout`, an input that delivers neither a record nor a watermark for
 * that long (processing time, noticed between 1 and 1.25 timeouts) is idle
 * and stops holding it back, until it delivers something again. Both inputs
 * start at `-Infinity`, so nothing is on time for both before each has
 * spoken. Unlike a single idle input, two idle inputs do not follow the
 * clock: the watermark is then the higher of theirs, and never runs ahead of
 * what an input promised.
 *
 * @internal
 * @module
 */
import { asyncScheduler, isObservable, type Observable, type SchedulerLike, type Subscriber, Subscription } from 'rxjs';
import { describe, InvalidOptionError, InvalidRecordError } from '../errors.js';
import {
  optionalFunction,
  optionalId,
  optionalScheduler,
  rejectUnknown,
  requireFunction,
  requireObject,
  requirePositive,
} from '../options.js';
import type { TimedSink } from '../time/sink.js';
import type { Timed } from '../time/timed.js';
import { WatermarkMultiplexer } from '../time/watermark-multiplexer.js';
import { isKey, type WindowKey } from '../windows/window-result.js';
import { completeSink, connectTimed, isChangelogStream } from './timed-observable.js';

/** The multiplexer's names for the two inputs. @internal */
export const LEFT = 'left';
/** @internal */
export const RIGHT = 'right';

/** Idleness checks per `idleTimeout`, as in `eventTime`. */
const IDLE_TICKS = 4;

/** What a two-input operator does with its inputs. @internal */
export interface TwoInputHandler<L, R> {
  /** A record of the left input, under the combined watermark as it stood before it. */
  left(value: L, timestamp: number, watermark: number): void;
  right(value: R, timestamp: number, watermark: number): void;
  /** The combined watermark advanced: fire and purge, then the wiring forwards it. */
  advance(watermark: number): void;
}

/** Refuses, at creation, a second input that is not an Observable. @internal */
export function requireTimedInput(option: string, input: unknown, example: string): void {
  if (!isObservable(input))
    throw new InvalidOptionError(
      option,
      `expected the other input as a timed stream (an Observable of records and watermarks), got ${describe(input)}; ` +
        `pass e.g. ${example}`,
    );
}

/** The combined watermark of two inputs (a multiplexer over `'left'` and `'right'`). @internal */
export function twoInputMultiplexer(): WatermarkMultiplexer {
  const mux = new WatermarkMultiplexer();
  mux.update(LEFT, Number.NEGATIVE_INFINITY, 0);
  mux.update(RIGHT, Number.NEGATIVE_INFINITY, 0);
  return mux;
}

/** Options of the wiring. @internal */
export interface TwoInputSettings {
  readonly idleTimeout?: number | undefined;
  readonly scheduler?: SchedulerLike | undefined;
}

/**
 * Subscribes both inputs and feeds `handler`; forwards the combined
 * watermark to `sink`, completes once both inputs completed (after a final
 * `+Infinity` watermark), and errors as soon as either input errors.
 *
 * @internal
 */
export function connectTwoInputs<L, R, O>(
  name: string,
  left$: Observable<Timed<L>>,
  right$: Observable<Timed<R>>,
  mux: WatermarkMultiplexer,
  handler: TwoInputHandler<L, R>,
  settings: TwoInputSettings,
  sink: TimedSink<O>,
  subscriber: Subscriber<unknown>,
): Subscription {
  const subscription = new Subscription();
  let tick = 0;
  /** Per input: the tick it was last heard from, and whether the multiplexer holds it idle. */
  const sides = [LEFT, RIGHT].map((input) => ({ name: input, seen: 0, idle: mux.isIdle(input) === true }));
  let done = 0;

  const forward = () => {
    const wm = mux.current;
    handler.advance(wm);
    sink.watermark(wm);
  };

  const { idleTimeout, scheduler = asyncScheduler } = settings;
  if (idleTimeout !== undefined) {
    const period = idleTimeout / IDLE_TICKS;
    subscription.add(
      scheduler.schedule(function check() {
        if (subscriber.closed) return;
        tick++;
        // Records only store a tick number; tell the multiplexer when each active input was last heard.
        for (const side of sides) if (!side.idle) mux.update(side.name, mux.watermarkOf(side.name) as number, side.seen);
        const advanced = mux.idleSince(tick - IDLE_TICKS);
        for (const side of sides) side.idle = mux.isIdle(side.name) === true;
        if (advanced) {
          try {
            forward();
          } catch (err) {
            sink.error(err);
            return;
          }
        }
        this.schedule(undefined, period);
      }, period),
    );
  }

  /** Subscribes one input: its records go to `record`, its watermarks to the multiplexer. */
  const connect = <T>(input$: Observable<Timed<T>>, side: (typeof sides)[number], record: (value: T, timestamp: number, watermark: number) => void) =>
    connectTimed(
      input$,
      {
        record(value, timestamp) {
          side.seen = tick;
          // A record of an idle input makes it active again at once: otherwise the
          // other input could move the watermark past the records that follow it.
          if (side.idle) {
            side.idle = false;
            if (mux.markActive(side.name)) forward();
          }
          record(value, timestamp, mux.current);
        },
        watermark(wm) {
          side.seen = tick;
          side.idle = false;
          if (mux.update(side.name, wm, tick)) forward();
        },
        error: (err) => sink.error(err),
        complete: () => {
          if (mux.update(side.name, Number.POSITIVE_INFINITY, tick)) forward();
          if (++done === 2) completeSink(sink);
        },
      },
      subscriber,
      name,
    );

  subscription.add(connect(left$, sides[0]!, handler.left.bind(handler)));
  if (subscriber.closed) return subscription;
  subscription.add(connect(right$, sides[1]!, handler.right.bind(handler)));
  return subscription;
}

/** The options every join shares. @internal */
export interface JoinCommonOptions<L, R, K extends WindowKey> {
  readonly leftKey: (value: L) => K;
  readonly rightKey: (value: R) => K;
  readonly late?: ((value: L | R, timestamp: number, side: 'left' | 'right') => void) | undefined;
  readonly invalid?: ((error: InvalidRecordError) => void) | undefined;
  readonly idleTimeout?: number | undefined;
  readonly scheduler?: SchedulerLike | undefined;
  readonly id?: string | undefined;
}

/** Option names every join accepts. @internal */
export const JOIN_COMMON = ['leftKey', 'rightKey', 'late', 'invalid', 'idleTimeout', 'scheduler', 'id'] as const;

/** Validates the options every join shares, eagerly. @internal */
export function validateJoinCommon(name: string, options: object, known: readonly string[], rightInput: unknown): void {
  requireTimedInput(`${name}(right$)`, rightInput, 'payments$.pipe(eventTime({ timestamp: (p) => p.ts, maxOutOfOrderness: 1_000 }))');
  requireObject(name, options);
  rejectUnknown(name, options, known);
  const o = options as Partial<JoinCommonOptions<unknown, unknown, WindowKey>>;
  if (o.leftKey === undefined && o.rightKey === undefined)
    throw new InvalidOptionError(
      `${name}.leftKey`,
      'a join needs a key on each side: pass leftKey and rightKey returning a string or number, ' +
        'e.g. leftKey: (order) => order.id, rightKey: (payment) => payment.orderId',
    );
  requireFunction(`${name}.leftKey`, o.leftKey, 'pass e.g. (order) => order.id returning a string or number');
  requireFunction(`${name}.rightKey`, o.rightKey, 'pass e.g. (payment) => payment.orderId returning a string or number');
  optionalFunction(`${name}.late`, o.late);
  optionalFunction(`${name}.invalid`, o.invalid);
  if (o.idleTimeout !== undefined) requirePositive(`${name}.idleTimeout`, o.idleTimeout);
  optionalScheduler(`${name}.scheduler`, o.scheduler);
  optionalId(`${name}.id`, o.id);
}

/**
 * Reads a record's key, or reports it (to `invalid`, else as the stream's
 * error) and returns `undefined`. @internal
 */
export function keyOrReport<V, K extends WindowKey>(
  name: string,
  side: 'left' | 'right',
  keyOf: (value: V) => K,
  value: V,
  invalid: ((error: InvalidRecordError) => void) | undefined,
  fail: (err: unknown) => void,
): K | undefined {
  const k = keyOf(value);
  if (isKey(k)) return k;
  const error = new InvalidRecordError(
    `${name}: ${side}Key(record) returned ${describe(k)}; keys must be strings or finite numbers ` +
      `(fix the ${side}Key function, or pass \`invalid\` to skip such records)`,
    value,
  );
  if (invalid) invalid(error);
  else fail(error);
  return undefined;
}

/**
 * What a join emits when it has no `select`: the left and the right record
 * of a matching pair. A left-outer {@link join} emits `right: undefined` for
 * a left record that matched nothing.
 *
 * @example
 * ```ts
 * import type { Joined } from 'tidemark';
 * const row: Joined<{ id: number }, { orderId: number; paid: number }> =
 *   { left: { id: 7 }, right: { orderId: 7, paid: 30 } };
 * ```
 */
export interface Joined<L, R> {
  readonly left: L;
  readonly right: R;
}

/** The default `select` of the joins. @internal */
export const pair = <L, R>(left: L, right: R): Joined<L, R> => ({ left, right });

/**
 * Refuses, when the pipe is built, an input that is a changelog
 * (`windowBy({ changelog: true })`): these operators keep or pair records and
 * cannot take an `update-before` or `delete` back. @internal
 */
export function refuseChangelog(operator: string, input: string, source: Observable<unknown>): void {
  if (isChangelogStream(source))
    throw new InvalidOptionError(
      `${operator}(${input})`,
      'is a changelog (windowBy({ changelog: true })), whose update-before and delete rows this operator cannot take back; ' +
        'feed it accumulating results instead (windowBy without changelog: true, on-time panes only)',
    );
}
