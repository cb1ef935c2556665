/**
 * `eventTime`: turns plain events into a timed stream of records and watermarks.
 *
 * @module
 */
import {
  asyncScheduler,
  type Observable,
  type OperatorFunction,
  type SchedulerAction,
  type SchedulerLike,
  type Subscriber,
  Subscription,
} from 'rxjs';
import { activeMode, type CheckpointScope, noteEventTime, perSourceInput, registerState } from '../checkpoint/scope.js';
import { describe, InvalidOptionError, InvalidRecordError } from '../errors.js';
import {
  optionalFunction,
  optionalId,
  optionalScheduler,
  rejectUnknown,
  requireFunction,
  requireNonNegative,
  requireObject,
  requirePositive,
} from '../options.js';
import { check } from '../checkpoint/snapshot.js';
import type { Clock } from '../time/clock.js';
import type { TimedSink } from '../time/sink.js';
import type { Timed } from '../time/timed.js';
import { BoundedOutOfOrderness } from '../time/watermark-generator.js';
import { WatermarkMultiplexer } from '../time/watermark-multiplexer.js';
import { completeSink, TimedObservable } from './timed-observable.js';

/** Options of {@link eventTime} and {@link eventTimeBatches}. */
export interface EventTimeOptions<T> {
  /** Reads an event's timestamp in milliseconds; must return a finite number. */
  readonly timestamp: (event: T) => number;
  /** How late (in ms of event time) a record may arrive behind the newest one and still count as on time. */
  readonly maxOutOfOrderness: number;
  /**
   * Processing-time milliseconds without any record after which the input
   * counts as idle; from then on the watermark follows the clock,
   * `max(watermark, now - maxOutOfOrderness - 1)`, updated every quarter
   * timeout, so the last windows of a quiet stream still close. Idleness is
   * noticed between 1 and 1.25 `idleTimeout`s after the last record (the
   * clock is read by a timer, never per record). Off by default.
   */
  readonly idleTimeout?: number;
  /**
   * Keeps one watermark per source (a client, a device, a partition), as
   * Flink's per-source watermarks: each source's watermark follows its own
   * records (`maxTimestamp - maxOutOfOrderness - 1`), and the stream's
   * watermark is the minimum over the *active* sources, never going back.
   * With `idleTimeout`, a source without records for that long (processing
   * time, noticed within 1–1.25 timeouts) is idle and stops holding the
   * watermark back; when every source is idle, the watermark is the highest
   * source watermark and then follows the clock as a single idle input's
   * does. A source that returns is active again: until its watermark catches
   * up it holds further progress, and its records behind the watermark are
   * late. Return a string (numbers are turned into strings).
   */
  readonly source?: (event: T) => string | number;
  /** Clock and timer source for `idleTimeout`; default `asyncScheduler` (use a `TestScheduler` in tests). */
  readonly scheduler?: SchedulerLike;
  /**
   * Receives events whose timestamp is not a finite number (and the reason);
   * they are skipped. Without it, such an event errors the stream.
   */
  readonly invalid?: (error: InvalidRecordError) => void;
  /** Names this operator's state in pipeline snapshots; default `eventTime#n`. */
  readonly id?: string;
}

/** Idleness checks per `idleTimeout`. */
const IDLE_TICKS = 4;

const KNOWN = ['timestamp', 'maxOutOfOrderness', 'idleTimeout', 'source', 'scheduler', 'invalid', 'id'] as const;

/** Validates options once, at factory time. */
function validateEventTime<T>(name: string, options: EventTimeOptions<T>): void {
  requireObject(name, options);
  rejectUnknown(name, options, KNOWN);
  requireFunction(`${name}.timestamp`, options.timestamp, 'pass e.g. (e) => e.ts returning epoch milliseconds');
  if (options.maxOutOfOrderness === undefined)
    throw new InvalidOptionError(
      `${name}.maxOutOfOrderness`,
      'is required: the most a record may lag the newest timestamp seen (ms); use 0 for in-order streams',
    );
  requireNonNegative(`${name}.maxOutOfOrderness`, options.maxOutOfOrderness);
  if (options.idleTimeout !== undefined) requirePositive(`${name}.idleTimeout`, options.idleTimeout);
  optionalScheduler(`${name}.scheduler`, options.scheduler);
  optionalFunction(`${name}.invalid`, options.invalid);
  optionalFunction(`${name}.source`, options.source);
  optionalId(`${name}.id`, options.id);
}

/**
 * The stateful head of a timed stream (internal): stamps events, keeps the
 * watermark, pushes both downstream, and advances the watermark on idleness.
 * Shared by {@link eventTime} and {@link eventTimeBatches}.
 *
 * @internal
 */
export class EventTimeHead<T> {
  private readonly generator: BoundedOutOfOrderness;
  private readonly timestamp: (event: T) => number;
  private seen = 0;
  private invalidRecords = 0;
  /** A batch run holds the watermark until the input ends (see `RunOptions.mode`). */
  private readonly hold = activeMode() === 'batch';
  /** Per-source watermarks, when the events have sources. */
  private readonly perSource: PerSource<T> | undefined;

  constructor(
    private readonly name: string,
    private readonly options: EventTimeOptions<T>,
    private readonly sink: TimedSink<T>,
    private readonly subscriber: Subscriber<unknown>,
    input?: unknown,
  ) {
    this.generator = new BoundedOutOfOrderness(options.maxOutOfOrderness);
    this.timestamp = options.timestamp;
    const scope = perSourceInput(input);
    if (options.source || scope) this.perSource = new PerSource(options, scope);
    const perSource = this.perSource;
    if (perSource) {
      registerState('eventTime', options.id, {
        snapshot: () => ({ perSource: perSource.mux.snapshot() }),
        restore: (state) => perSource.restore(state, name),
        stats: () => ({
          watermark: perSource.mux.current,
          invalidRecords: this.invalidRecords,
          sources: perSource.mux.size,
          activeSources: perSource.mux.activeCount,
          idleSources: perSource.mux.size - perSource.mux.activeCount,
        }),
      });
      return;
    }
    registerState('eventTime', options.id, {
      snapshot: () => this.generator.snapshot(),
      restore: (state) => {
        check(
          typeof state === 'object' && state !== null && !('perSource' in state),
          name,
          'the snapshot keeps one watermark per source but this eventTime keeps one for all events; ' +
            'restore it into a run with the same `source` option or RunOptions.perSource',
        );
        this.generator.restore(state);
      },
      stats: () => ({ watermark: this.generator.current, invalidRecords: this.invalidRecords }),
    });
  }

  /** Processes one event; returns `false` once the stream is closed. */
  push(event: T): boolean {
    if (this.subscriber.closed) return false;
    try {
      const ts = this.timestamp(event);
      if (!Number.isFinite(ts)) {
        this.reject(event, ts);
        return true;
      }
      const perSource = this.perSource;
      if (perSource) {
        const source = perSource.sourceOf(event);
        if (source === undefined) {
          this.reject(event, ts, perSource.describeSource(event));
          return true;
        }
        this.seen++;
        this.sink.record(event, ts);
        if (perSource.onRecord(source, ts) && !this.hold) this.sink.watermark(perSource.mux.current);
        return true;
      }
      this.seen++;
      this.sink.record(event, ts);
      if (this.generator.onRecord(ts) && !this.hold) this.sink.watermark(this.generator.current);
    } catch (err) {
      this.sink.error(err);
    }
    return true;
  }

  end(): void {
    if (this.subscriber.closed) return;
    try {
      if (this.perSource) {
        if (this.perSource.mux.end()) this.sink.watermark(this.perSource.mux.current);
      } else if (this.generator.onEnd()) this.sink.watermark(this.generator.current);
    } catch (err) {
      this.sink.error(err);
      return;
    }
    completeSink(this.sink);
  }

  error(err: unknown): void {
    this.sink.error(err);
  }

  /** Starts idleness detection, if configured; the returned subscription stops it. */
  startIdleTimer(): Subscription | undefined {
    if (this.hold) return undefined;
    if (this.perSource) return this.perSource.startIdleTimer(this.subscriber, this.sink);
    const { idleTimeout, scheduler = asyncScheduler } = this.options;
    if (idleTimeout === undefined) return undefined;
    // The hot path only counts records; the clock is read by a timer that
    // ticks every quarter timeout. A tick that sees new records marks the
    // input active at that moment, so idleness is declared between 1 and
    // 1.25 timeouts after the last record, with no Date.now() per record.
    const period = idleTimeout / IDLE_TICKS;
    const head = this;
    let activeAt = scheduler.now();
    return scheduler.schedule(
      function tick(this: SchedulerAction<number>, seenAtLastTick = 0) {
        if (head.subscriber.closed) return;
        const now = scheduler.now();
        if (head.seen !== seenAtLastTick) activeAt = now;
        else if (now - activeAt >= idleTimeout && head.generator.onIdle(now)) {
          try {
            head.sink.watermark(head.generator.current);
          } catch (err) {
            head.sink.error(err);
            return;
          }
        }
        this.schedule(head.seen, period);
      },
      period,
      this.seen,
    );
  }

  private reject(event: T, ts: unknown, badSource?: string): void {
    this.invalidRecords++;
    const error = new InvalidRecordError(
      badSource === undefined
        ? `${this.name}: timestamp(event) returned ${describe(ts)}, not a finite number of milliseconds; ` +
            'fix the timestamp function or the event, or pass `invalid` to skip such events'
        : `${this.name}: source(event) returned ${badSource}, not a string or finite number; ` +
            'fix the source function or the event, or pass `invalid` to skip such events',
      event,
    );
    if (this.options.invalid) this.options.invalid(error);
    else this.sink.error(error);
  }
}

/**
 * The per-source half of a head: one watermark per source, combined by a
 * {@link WatermarkMultiplexer}, with idleness counted in timer ticks so that
 * the hot path only stores the current tick number. @internal
 */
class PerSource<T> {
  readonly mux = new WatermarkMultiplexer();
  private tick = 0;
  private readonly bound: number;
  private readonly idleTimeout: number | undefined;
  private readonly clock: Clock;
  readonly sourceOf: (event: T) => string | undefined;
  private readonly readSource: ((event: T) => unknown) | undefined;

  constructor(options: EventTimeOptions<T>, scope: CheckpointScope | undefined) {
    this.bound = options.maxOutOfOrderness;
    this.idleTimeout = options.idleTimeout ?? scope?.perSource?.idleTimeout;
    this.clock = options.scheduler
      ? schedulerClock(options.scheduler)
      : (scope?.perSource?.clock ?? schedulerClock(asyncScheduler));
    const read = options.source;
    this.readSource = read;
    this.sourceOf = read
      ? (event) => {
          const s = read(event);
          return typeof s === 'string' ? s : typeof s === 'number' && Number.isFinite(s) ? String(s) : undefined;
        }
      : // A host names the source of each pushed event (PipelineInput.push(event, source)).
        () => (scope as CheckpointScope).currentSource ?? '';
  }

  describeSource(event: T): string {
    return describe(this.readSource?.(event));
  }

  onRecord(source: string, ts: number): boolean {
    return this.mux.update(source, ts - this.bound - 1, this.tick);
  }

  restore(state: unknown, name: string): void {
    const s = state as { perSource?: unknown } | null;
    check(
      typeof s === 'object' && s !== null && 'perSource' in s,
      name,
      'the snapshot keeps one watermark for all events but this eventTime keeps one per source; ' +
        'restore it into a run without the `source` option and without RunOptions.perSource',
    );
    this.mux.restore(s.perSource, `${name}.perSource`);
  }

  /** Ticks every quarter `idleTimeout`: sources unheard for four ticks are idle; all idle, the watermark follows the clock. */
  startIdleTimer(subscriber: Subscriber<unknown>, sink: TimedSink<T>): Subscription | undefined {
    const idleTimeout = this.idleTimeout;
    if (idleTimeout === undefined) return undefined;
    const period = idleTimeout / IDLE_TICKS;
    let cancel: () => void = () => undefined;
    const tick = () => {
      if (subscriber.closed) return;
      this.tick++;
      let advanced = this.mux.idleSince(this.tick - IDLE_TICKS);
      if (this.mux.activeCount === 0 && this.mux.size > 0)
        advanced = this.mux.followIdle(this.clock.now() - this.bound - 1) || advanced;
      if (advanced) {
        try {
          sink.watermark(this.mux.current);
        } catch (err) {
          sink.error(err);
          return;
        }
      }
      cancel = this.clock.timeout(tick, period);
    };
    cancel = this.clock.timeout(tick, period);
    return new Subscription(() => cancel());
  }
}

/** A scheduler as a {@link Clock}. */
function schedulerClock(scheduler: SchedulerLike): Clock {
  return {
    now: () => scheduler.now(),
    timeout(fn, ms) {
      const action = scheduler.schedule(fn, ms);
      return () => action.unsubscribe();
    },
  };
}

/** Wires a head to a source of `S` (events or batches of events). @internal */
export function eventTimeOperator<S, T>(
  name: string,
  options: EventTimeOptions<T>,
  feed: (head: EventTimeHead<T>, item: S) => void,
): OperatorFunction<S, Timed<T>> {
  validateEventTime(name, options);
  return (source: Observable<S>) =>
    new TimedObservable<T>((sink, subscriber) => {
      // Only eventTime takes events one by one: its timestamp is the input's event time.
      if (name === 'eventTime') noteEventTime(source, options.timestamp as (event: never) => number);
      const head = new EventTimeHead(name, options, sink, subscriber, source);
      const subscription = new Subscription();
      const idle = head.startIdleTimer();
      if (idle) subscription.add(idle);
      subscription.add(
        source.subscribe({
          next: (item) => feed(head, item),
          error: (err) => head.error(err),
          complete: () => head.end(),
        }),
      );
      return subscription;
    });
}

/**
 * Assigns event timestamps and generates watermarks: the entry point of
 * every Tidemark pipeline. Emits each valid event as a record, followed by
 * the new watermark whenever it advances; on completion, a final `+Infinity`
 * watermark closes every window.
 *
 * The watermark after each record is
 * `max(watermark, maxTimestampSeen - maxOutOfOrderness - 1)`.
 *
 * @param options - see {@link EventTimeOptions}
 * @throws {@link InvalidOptionError} at call time for a missing `timestamp`, a negative `maxOutOfOrderness`, …
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, watermarks } from 'tidemark';
 * from([{ ts: 5_000 }, { ts: 3_000 }, { ts: 9_000 }])
 *   .pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 2_000 }), watermarks())
 *   .subscribe((w) => console.log(w)); // 2999, 6999, Infinity
 * ```
 * @see {@link eventTimeBatches} for arrays of events, {@link windowBy}
 */
export function eventTime<T>(options: EventTimeOptions<T>): OperatorFunction<T, Timed<T>> {
  return eventTimeOperator<T, T>('eventTime', options, (head, event) => {
    head.push(event);
  });
}
