/**
 * `createPipeline`: run a user's pipeline so that its whole state can be
 * snapshotted in one call and restored before the first event.
 *
 * @module
 */
import { from, Observable, type ObservableInput, type Observer, type Subscriber, type Subscription } from 'rxjs';
import { InvalidOptionError, TidemarkError } from '../errors.js';
import { rejectUnknown, requireFunction, requireObject, requirePositive } from '../options.js';
import type { Clock } from '../time/clock.js';
import { CheckpointScope, type PerSourceSettings } from './scope.js';
import type { OperatorStats, PipelineSnapshot } from './snapshot.js';

/** Where a pipeline's output goes: an observer or a `next` function. */
export type PipelineObserver<R> = Partial<Observer<R>> | ((value: R) => void);

/** Options of {@link Pipeline.run} and {@link Pipeline.open}. */
export interface RunOptions {
  /** A snapshot taken from an earlier run of the same pipeline; the run continues from it. */
  readonly restore?: PipelineSnapshot;
  /**
   * `'stream'` (default): an unbounded input in arrival order. `'batch'`: the
   * input is bounded and complete (the batch layer re-running a log, as
   * Flink's batch execution mode): every `eventTime` holds its watermark
   * until `end()`, so no record is late whatever the order of the input,
   * `windowBy` fires no early panes, and every window fires once, complete,
   * when the input ends.
   */
  readonly mode?: 'stream' | 'batch';
  /**
   * Keeps one watermark per source (client, device, partition) in the
   * `eventTime` that reads the pipeline's input, as if it had a `source`
   * option: a host that merges many clients' events passes each event's
   * source to {@link PipelineInput.push}. The watermark is the minimum over
   * the active sources; a source silent for `idleTimeout` stops holding it
   * back (see {@link EventTimeOptions.source} for the exact rules).
   * `idleTimeout` applies when the pipeline's `eventTime` has none of its
   * own; `clock` times idleness when it has no `scheduler` (default: the
   * system clock).
   */
  readonly perSource?: { readonly idleTimeout?: number; readonly clock?: Clock };
}

/** A started pipeline. */
export interface PipelineRun {
  /**
   * The state of every stateful operator, as plain data that shares nothing
   * with the live pipeline. Call it between events (never from inside an
   * output callback): the state then covers exactly the events pushed so far.
   */
  snapshot(): PipelineSnapshot;
  /** Monitoring counters of every stateful operator, by id (cheap: no copy of the state). */
  stats(): Record<string, OperatorStats>;
  /** Stops the pipeline and releases its state and timers. No final firing happens. */
  unsubscribe(): void;
  /** `true` once the pipeline completed, errored or was unsubscribed. */
  readonly closed: boolean;
  /**
   * The event time the pipeline gives an input event: the `timestamp` of its
   * first `eventTime` when that reads the input directly (`events$.pipe(eventTime(…), …)`);
   * `undefined` when the pipeline transforms events before stamping them.
   */
  readonly timestamp: ((event: never) => number) | undefined;
}

/** A started pipeline you push events into. */
export interface PipelineInput<T> extends PipelineRun {
  /**
   * Processes one event synchronously; its results are delivered before
   * `push` returns. `source` names where it came from, for a run opened with
   * {@link RunOptions.perSource} (ignored otherwise).
   */
  push(value: T, source?: string): void;
  /** Pushes each event of `values` in order (all from `source`, when given). */
  pushAll(values: Iterable<T>, source?: string): void;
  /** Completes the input: the watermark becomes +Infinity, every open window fires, the output completes. */
  end(): void;
}

/** A pipeline definition that can be run many times, each run with its own state. */
export interface Pipeline<T, R> {
  /** Runs the pipeline over `source` (any RxJS `ObservableInput`: an Observable, an array, an iterable…). */
  run(source: ObservableInput<T>, observer: PipelineObserver<R>, options?: RunOptions): PipelineRun;
  /** Starts the pipeline with a push-style input. */
  open(observer: PipelineObserver<R>, options?: RunOptions): PipelineInput<T>;
}

/**
 * Wraps a pipeline (a function from the event stream to its output) so that
 * a host can snapshot all of its operators' state in one call and start a
 * new run from that snapshot. The browser worker and the server batch job
 * both run user pipelines this way.
 *
 * Restoring is exact: a run restored from a snapshot taken after event *i*
 * and fed events *i+1…n* emits exactly what an uninterrupted run emits after
 * event *i*.
 *
 * @param build - builds the pipeline from its input; it is called once per run
 * @throws {@link InvalidOptionError} when `build` is not a function
 * @example
 * ```ts
 * import { createPipeline, eventTime, windowBy, tumbling, count, records } from 'tidemark';
 * type Click = { page: string; ts: number };
 * const clicks = createPipeline((events$: import('rxjs').Observable<Click>) => events$.pipe(
 *   eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 1_000 }),
 *   windowBy({ key: (e) => e.page, window: tumbling(60_000), aggregate: count() }),
 *   records(),
 * ));
 * const first = clicks.open((r) => console.log(r));
 * first.push({ page: '/', ts: 1_000 });
 * const saved = first.snapshot();          // e.g. written to IndexedDB
 * first.unsubscribe();
 * const second = clicks.open((r) => console.log(r), { restore: saved });
 * second.push({ page: '/', ts: 2_000 });
 * second.end();                            // logs { key: '/', start: 0, end: 60000, value: 2, … }
 * ```
 * @see {@link PipelineSnapshot}
 */
export function createPipeline<T, R>(build: (events$: Observable<T>) => Observable<R>): Pipeline<T, R> {
  requireFunction('createPipeline(build)', build, 'pass (events$) => events$.pipe(...)');
  return {
    run(source, observer, options) {
      const started = start(build, observer, options);
      if (started.gate) started.subscription.add(from(source).subscribe(started.feed));
      return started.handle;
    },
    open(observer, options) {
      const { handle, feed, scope } = start(build, observer, options);
      const ensureOpen = (call: string) => {
        if (handle.closed)
          throw new TidemarkError(`${call} after the pipeline ended, errored or was unsubscribed; open a new run`);
      };
      const input: Omit<PipelineInput<T>, keyof PipelineRun> = {
        push(value, source) {
          ensureOpen('push()');
          scope.currentSource = source;
          feed.next(value);
        },
        pushAll(values, source) {
          ensureOpen('pushAll()');
          scope.currentSource = source;
          for (const value of values) feed.next(value);
        },
        end() {
          ensureOpen('end()');
          feed.complete();
        },
      };
      return Object.assign(handle, input);
    },
  };
}

function start<T, R>(
  build: (events$: Observable<T>) => Observable<R>,
  observer: PipelineObserver<R>,
  options: RunOptions | undefined,
) {
  const mode = options?.mode ?? 'stream';
  if (mode !== 'stream' && mode !== 'batch')
    throw new InvalidOptionError('RunOptions.mode', `must be 'stream' or 'batch', got ${String(mode)}`);
  const scope = new CheckpointScope(options?.restore, mode, validatePerSource(options?.perSource));
  const target: Partial<Observer<R>> = typeof observer === 'function' ? { next: observer } : observer;
  if (typeof target !== 'object' || target === null)
    throw new InvalidOptionError('observer', 'expected an observer object or a function receiving each result');
  let gate: Subscriber<T> | undefined;
  const input$ = new Observable<T>((subscriber) => {
    if (gate) throw new TidemarkError('a pipeline may subscribe to its input only once per run; use share() to fan out');
    gate = subscriber;
  });
  scope.input = input$;
  let depth = 0;
  let starting = true;
  const output$ = build(input$);
  if (!(output$ instanceof Observable))
    throw new InvalidOptionError('createPipeline(build)', 'build must return an Observable (events$.pipe(...))');
  const subscription: Subscription = scope.activate(() =>
    output$.subscribe({
      next: (value) => target.next?.(value),
      // A restore failure during start-up is thrown by run()/open() instead.
      error: (err) => (starting && err === scope.failure ? undefined : target.error?.(err)),
      complete: () => target.complete?.(),
    }),
  );
  try {
    scope.finish();
  } catch (e) {
    subscription.unsubscribe();
    throw e;
  }
  starting = false;
  const handle: PipelineRun = {
    get closed() {
      return subscription.closed;
    },
    snapshot() {
      if (depth > 0)
        throw new TidemarkError('snapshot() was called while the pipeline was processing an event; call it between events');
      return scope.snapshot();
    },
    stats: () => scope.stats(),
    unsubscribe: () => subscription.unsubscribe(),
    timestamp: scope.inputTimestamp,
  };
  // Everything enters through `feed`, which tracks when an event is being
  // processed so that snapshot() can refuse to run in the middle of one.
  const feed: Observer<T> = {
    next(value) {
      depth++;
      try {
        gate?.next(value);
      } finally {
        depth--;
      }
    },
    error: (err) => gate?.error(err),
    complete: () => gate?.complete(),
  };
  return { gate, subscription, handle, feed, scope };
}

function validatePerSource(perSource: RunOptions['perSource']): PerSourceSettings | undefined {
  if (perSource === undefined) return undefined;
  requireObject('RunOptions.perSource', perSource);
  rejectUnknown('RunOptions.perSource', perSource, ['idleTimeout', 'clock']);
  if (perSource.idleTimeout !== undefined) requirePositive('RunOptions.perSource.idleTimeout', perSource.idleTimeout);
  const clock = perSource.clock as Partial<Clock> | undefined;
  if (clock !== undefined && (typeof clock?.now !== 'function' || typeof clock.timeout !== 'function'))
    throw new InvalidOptionError('RunOptions.perSource.clock', 'must be a Clock { now(), timeout(fn, ms) }, e.g. systemClock');
  return perSource;
}
