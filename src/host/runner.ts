/**
 * The Runner: Tidemark's exactly-once loop, once, for every host. Restore
 * the latest checkpoint, process the stored batches after the sequence it
 * covers, in order, and write checkpoints (snapshot + view + position in one
 * atomic write, fenced by an epoch) every N events or T ms, off the hot
 * path. The browser worker, the edge partition and the batch layer are this
 * class over their own {@link RunnerStore}.
 *
 * Platform-free: storage comes in as a store, time as a {@link Clock}.
 * Slightly over 300 lines, on purpose: the loop's positions, its cache of
 * offered batches and the write in flight are one state machine.
 *
 * @module
 */
import type { Pipeline } from '../checkpoint/pipeline.js';
import { LeadershipLost } from '../errors.js';
import { type Clock, systemClock } from '../time/clock.js';
import { LatestPanes } from '../windows/latest-panes.js';
import type { WindowResult } from '../windows/window-result.js';
import { PipelineSession, type RunCounters } from './pipeline-session.js';
import type { RunnerBatch, RunnerStore } from './store.js';

/** The last checkpoint written (or restored): its position, time, cost and size. */
export interface CheckpointInfo {
  /** Every event with a sequence number up to this one is covered. */
  readonly seq: number;
  /** When it was taken (the host's clock: `Date.now()` by default). */
  readonly at: number;
  /** How long the write took, snapshot included, in ms (0 for a restored one). */
  readonly durationMs: number;
  /** Number of open windows in the snapshot. */
  readonly openWindows: number;
}

/** What a runner reports. */
export interface RunnerHooks {
  /** Results fired while processing some batches, in order. */
  results?(results: unknown[]): void;
  /** Every sequence up to `through` has been processed. */
  processed?(through: number): void;
  /** Something went wrong (a failed pipeline, read or checkpoint); the runner keeps going when it can. */
  error?(error: unknown): void;
}

/** How a runner runs. */
export interface RunnerOptions {
  readonly store: RunnerStore;
  readonly pipeline: Pipeline<unknown, unknown>;
  /** The fencing token passed to every checkpoint write (default 0). */
  readonly epoch?: number;
  /**
   * Checkpoint after `everyEvents` processed events or `everyMs` ms, whichever
   * comes first (defaults 100 000 and 1 000; `Infinity` turns either off).
   */
  readonly checkpoint?: { readonly everyEvents?: number; readonly everyMs?: number };
  /**
   * The view of latest panes: how many windows it keeps (default 100 000), and
   * how checkpoints store it: `'columns'` (typed arrays, fast to clone) or
   * `'entries'` (plain objects, for JSON storage). `false`: no view (the
   * host keeps results itself).
   */
  readonly view?: { readonly maxWindows?: number; readonly encoding?: 'columns' | 'entries' } | false;
  readonly clock?: Clock;
  readonly hooks?: RunnerHooks;
  /** `'batch'` for a bounded, complete input (the batch layer): see `RunOptions.mode`. Default `'stream'`. */
  readonly mode?: 'stream' | 'batch';
  /**
   * One watermark per source (each batch's `source`), for a host that merges
   * many clients' events (the server's global speed layer): see
   * `RunOptions.perSource`. The clock defaults to the runner's.
   */
  readonly perSource?: { readonly idleTimeout?: number };
}

/** A runner's progress, state size and health. */
export interface RunnerStatus extends RunCounters {
  readonly processed: number;
  readonly checkpointed: number;
  readonly lastCheckpoint: CheckpointInfo | null;
  readonly viewWindows: number;
  readonly failed: boolean;
}

const READ_AHEAD = 16;
/**
 * Batches handed over with {@link Runner.offer} and not processed yet are
 * kept in memory (the host has them already), up to this many events;
 * beyond it the loop reads them back from the store.
 */
const CACHE_EVENTS = 1 << 20;

/** The exactly-once loop over one store (see the module comment). */
export class Runner {
  private session: PipelineSession | undefined;
  private readonly view: LatestPanes | undefined;
  private readonly cache = new Map<number, RunnerBatch>();
  private cached = 0;
  private processedSeq = 0;
  private knownLast = 0;
  private checkpointedSeq = 0;
  private lastCheckpoint: CheckpointInfo | null = null;
  private lastCheckpointAt = 0;
  private pumping: Promise<void> | undefined;
  private writing: Promise<void> | undefined;
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  private fired: unknown[] = [];
  private publishing = false;
  private readonly clock: Clock;
  private readonly everyEvents: number;
  private readonly everyMs: number;

  constructor(private readonly options: RunnerOptions) {
    this.clock = options.clock ?? systemClock;
    this.everyEvents = options.checkpoint?.everyEvents ?? 100_000;
    this.everyMs = options.checkpoint?.everyMs ?? 1_000;
    this.view = options.view === false ? undefined : new LatestPanes(options.view?.maxWindows ?? 100_000);
  }

  /**
   * Restores the latest checkpoint and starts processing what is stored
   * after it ({@link Runner.idle} resolves once that is done).
   * @throws what restoring throws: a `SnapshotError` when the checkpoint was made by another pipeline
   */
  async start(): Promise<void> {
    const { store, pipeline, hooks } = this.options;
    const checkpoint = await store.loadCheckpoint();
    this.view?.restore(checkpoint?.view);
    this.session = new PipelineSession(pipeline, checkpoint?.snapshot, {
      mode: this.options.mode,
      ...(this.options.perSource ? { perSource: { ...this.options.perSource, clock: this.clock } } : {}),
      view: this.view,
      result: (r) => {
        this.fired.push(r);
        // Fired outside the loop (an idle timer advanced the watermark): publish it by itself.
        if (!this.pumping && !this.publishing) {
          this.publishing = true;
          this.clock.timeout(() => {
            this.publishing = false;
            if (!this.pumping) this.publish();
          }, 0);
        }
      },
      error: (e) => hooks?.error?.(e),
    });
    this.processedSeq = this.checkpointedSeq = checkpoint?.seq ?? 0;
    this.lastCheckpointAt = this.clock.now();
    if (checkpoint)
      this.lastCheckpoint = { seq: checkpoint.seq, at: checkpoint.at, durationMs: 0, openWindows: this.session.counters().openWindows };
    this.notify(await store.lastSeq());
  }

  /** Every sequence up to this is reflected in the view and the pipeline's state. */
  get processed(): number {
    return this.processedSeq;
  }

  /** The sequence the latest checkpoint covers. */
  get checkpointed(): number {
    return this.checkpointedSeq;
  }

  /** The event time the pipeline gives an input event (see `PipelineRun.timestamp`), once started. */
  get timestamp(): ((event: never) => number) | undefined {
    return this.session?.timestamp;
  }

  /** Why the pipeline failed, or `undefined`; a failed runner stops processing (its events stay stored). */
  get failure(): { readonly error: unknown } | undefined {
    return this.session?.failure;
  }

  /** Marks the pipeline failed (a host that finds its results unusable); processing stops. */
  fail(error: unknown): void {
    this.session?.fail(error);
  }

  /** Events up to `last` are stored: process them. */
  notify(last: number): void {
    if (last <= this.knownLast) return;
    this.knownLast = last;
    this.pump();
  }

  /** Hands over a batch the host just stored, so the loop need not read it back. */
  offer(batch: RunnerBatch): void {
    if (batch.last > this.processedSeq && this.cached + batch.last - batch.seq < CACHE_EVENTS) {
      this.cache.set(batch.seq, batch);
      this.cached += batch.last - batch.seq + 1;
    }
    this.notify(batch.last);
  }

  /** Resolves once everything notified is processed and no checkpoint write is in flight. */
  async idle(): Promise<void> {
    while (this.pumping || this.writing) await (this.pumping ?? this.writing)?.catch(() => undefined);
  }

  /** The latest pane of every window fired so far. */
  entries(): WindowResult<string | number, unknown>[] {
    return this.view?.entries() ?? [];
  }

  status(): RunnerStatus {
    const counters = this.session?.counters() ?? {
      watermark: Number.NEGATIVE_INFINITY,
      openWindows: 0,
      lateRecords: 0,
      allowedLateness: 0,
      sources: 0,
      activeSources: 0,
    };
    return {
      ...counters,
      processed: this.processedSeq,
      checkpointed: this.checkpointedSeq,
      lastCheckpoint: this.lastCheckpoint,
      viewWindows: this.view?.size ?? 0,
      failed: this.failure !== undefined,
    };
  }

  /** Writes a checkpoint of everything processed so far (after the one in flight, if any). */
  async checkpoint(): Promise<void> {
    while (this.writing) await this.writing.catch(() => undefined);
    if (!this.session || this.failure || this.stopped || this.processedSeq === this.checkpointedSeq) return;
    await this.write();
  }

  /**
   * Ends a bounded input: processes what is stored, then every open window
   * fires (the batch layer's end of the log). No checkpoint is written after it.
   */
  async end(): Promise<void> {
    await this.idle();
    this.session?.end();
    this.publish();
    this.stopped = true;
    this.cancelTimer?.();
  }

  /** Stops processing; with `final`, writes a last checkpoint first. */
  async stop(final: boolean): Promise<void> {
    if (final) await this.idle().then(() => this.checkpoint()).catch((err) => this.options.hooks?.error?.(err));
    this.stopped = true;
    this.cancelTimer?.();
    this.session?.close();
  }

  private pump(): void {
    if (this.pumping || !this.session) return;
    this.pumping = this.loop().finally(() => {
      this.pumping = undefined;
      // A notify() that came in as the loop finished.
      if (!this.stopped && !this.failure && this.processedSeq < this.knownLast) this.pump();
    });
  }

  private async loop(): Promise<void> {
    const { store, hooks } = this.options;
    try {
      while (!this.stopped && !this.failure && this.processedSeq < this.knownLast) {
        const cached = this.cache.get(this.processedSeq + 1);
        const batches = cached ? [cached] : await store.readAfter(this.processedSeq, READ_AHEAD);
        if (this.stopped) return;
        // Nothing stored up to knownLast: those events were deleted before
        // they were processed (the browser outbox's 'drop-oldest' policy).
        if (batches.length === 0) this.processedSeq = this.knownLast;
        for (const batch of batches) {
          const hit = this.cache.get(batch.seq);
          if (hit) this.uncache(batch.seq, hit);
          if (batch.last <= this.processedSeq) continue;
          if (!this.session!.feed(batch.events, batch.source)) break;
          this.processedSeq = batch.last;
        }
        this.publish();
        this.maybeCheckpoint();
        if (this.cache.size > 64)
          for (const [seq, b] of this.cache) if (b.last <= this.processedSeq) this.uncache(seq, b);
      }
    } catch (err) {
      hooks?.error?.(err);
    }
  }

  private uncache(seq: number, batch: RunnerBatch): void {
    this.cache.delete(seq);
    this.cached -= batch.last - batch.seq + 1;
  }

  private publish(): void {
    const { hooks } = this.options;
    if (this.fired.length > 0) {
      const fired = this.fired;
      this.fired = [];
      hooks?.results?.(fired);
    }
    hooks?.processed?.(this.processedSeq);
  }

  private maybeCheckpoint(): void {
    const pending = this.processedSeq - this.checkpointedSeq;
    if (pending <= 0 || this.writing || this.failure || this.stopped) return;
    const due = this.clock.now() - this.lastCheckpointAt >= this.everyMs;
    if (pending >= this.everyEvents || due) {
      void this.write().catch((err) => this.options.hooks?.error?.(err));
      return;
    }
    // Quiet input: make sure processed events are covered within everyMs.
    this.armTimer();
  }

  private armTimer(): void {
    if (!this.cancelTimer && Number.isFinite(this.everyMs))
      this.cancelTimer = this.clock.timeout(() => {
        this.cancelTimer = undefined;
        this.maybeCheckpoint();
      }, this.everyMs);
  }

  private write(): Promise<void> {
    const { store, epoch = 0, view } = this.options;
    const session = this.session!;
    const started = this.clock.now();
    // Snapshot and view are copies taken between two batches, so processing
    // goes on while the write runs.
    const seq = this.processedSeq;
    const snapshot = session.snapshot();
    const encoded = view && view.encoding === 'entries' ? this.view?.entries() : this.view?.encode();
    const { openWindows } = session.counters();
    this.writing = store.writeCheckpoint({ seq, at: started, snapshot, view: encoded }, epoch).then(
      () => {
        this.writing = undefined;
        this.checkpointedSeq = Math.max(this.checkpointedSeq, seq);
        this.lastCheckpointAt = this.clock.now();
        this.lastCheckpoint = { seq, at: started, durationMs: this.lastCheckpointAt - started, openWindows };
        // Events processed while it was written may be due already.
        if (!this.stopped) this.maybeCheckpoint();
      },
      (err: unknown) => {
        this.writing = undefined;
        // Another leader took over: this runner must not write again.
        if (err instanceof LeadershipLost) void this.stop(false);
        // Not again at once (a full disk would make that a busy loop): with
        // the next batch processed, or everyMs from now.
        this.lastCheckpointAt = this.clock.now();
        if (!this.stopped) this.armTimer();
        throw err;
      },
    );
    return this.writing;
  }
}
