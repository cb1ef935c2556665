/**
 * The leader's loop: restore the latest checkpoint, consume the outbox in
 * sequence order from the position it covers, keep the view, and write
 * checkpoints (snapshot + view + position in one transaction) every N
 * events or T ms, off the hot path. Platform-free: storage comes in as a
 * {@link RuntimeStore}, time as a clock and a timer.
 *
 * @module
 */
import type { Pipeline, PipelineInput } from '../checkpoint/pipeline.js';
import { isRecord, isWatermark, type Timed } from '../time/timed.js';
import type { CheckpointInfo, Columns, LeaderStatus } from './contract.js';
import { LeadershipLost, type OutboxLimits, type OutboxRecord, type RuntimeStore } from './outbox-store.js';
import { LatestPanes } from '../windows/latest-panes.js';

/** What the host needs from its surroundings. */
export interface HostHooks {
  /** Results fired while processing one batch of records, in order. */
  results(results: unknown[]): void;
  /** The pipeline has processed every sequence up to `through`. */
  processed(through: number): void;
  /** Something went wrong; the host keeps going when it can. */
  error(error: unknown): void;
}

/** How the host runs. */
export interface HostOptions {
  readonly checkpointEveryEvents: number;
  readonly checkpointEveryMs: number;
  readonly limits: OutboxLimits;
  readonly viewMaxWindows: number;
  /** Decodes row `index` of a columnar record into an event. */
  readonly row: ((columns: Columns, index: number) => unknown) | undefined;
  readonly now: () => number;
  readonly setTimer: (fn: () => void, ms: number) => () => void;
}

/** A record read from the outbox, or one this tab just appended (kept to skip a read). */
type Batch = Pick<OutboxRecord, 'seq' | 'last' | 'events' | 'encoding'>;

const READ_AHEAD = 16;
/**
 * Events this tab appended and the pipeline has not reached yet are kept in
 * memory (they are already there, as the message that carried them), up to
 * this many; beyond it the loop reads them back from IndexedDB, which costs
 * a second deserialisation per event.
 */
const CACHE_EVENTS = 1 << 20;

/** Runs the pipeline for the leader tab. */
export class PipelineHost {
  private run!: PipelineInput<unknown>;
  private readonly view: LatestPanes;
  private readonly cache = new Map<number, Batch>();
  private cached = 0;
  private processedSeq = 0;
  private knownLast = 0;
  private checkpointedSeq = 0;
  private lastCheckpoint: CheckpointInfo | null = null;
  private lastCheckpointAt = 0;
  private pumping = false;
  private writing: Promise<void> | undefined;
  private cancelTimer: (() => void) | undefined;
  private stopped = false;
  private failedWith: unknown;
  private fired: unknown[] = [];

  constructor(
    private readonly store: RuntimeStore,
    private readonly epoch: number,
    private readonly pipeline: Pipeline<unknown, unknown>,
    private readonly options: HostOptions,
    private readonly hooks: HostHooks,
  ) {
    this.view = new LatestPanes(options.viewMaxWindows);
  }

  /** Restores the latest checkpoint and starts consuming the outbox after it. */
  async start(): Promise<void> {
    const checkpoint = await this.store.loadCheckpoint();
    this.view.restore(checkpoint?.view);
    this.run = this.pipeline.open(
      {
        next: (output) => {
          // A pipeline ending in windowBy emits timed elements: keep the records' values.
          const element = output as Timed<unknown>;
          const timed = typeof output === 'object' && output !== null && 'kind' in output;
          if (timed && isWatermark(element)) return;
          const result = timed && isRecord(element) ? element.value : output;
          this.view.add(result);
          this.fired.push(result);
        },
        error: (err) => this.fail(err),
      },
      checkpoint ? { restore: checkpoint.snapshot } : undefined,
    );
    this.processedSeq = this.checkpointedSeq = checkpoint?.seq ?? 0;
    this.lastCheckpointAt = this.options.now();
    if (checkpoint)
      this.lastCheckpoint = { seq: checkpoint.seq, at: checkpoint.at, durationMs: 0, openWindows: this.counters().openWindows };
    this.notify(await this.store.lastSeq());
  }

  get processed(): number {
    return this.processedSeq;
  }

  get failed(): boolean {
    return this.failedWith !== undefined;
  }

  /** Events up to `last` are durable in the outbox: process them. */
  notify(last: number): void {
    if (last <= this.knownLast) return;
    this.knownLast = last;
    void this.pump();
  }

  /** Hands over a batch this tab just appended, so the loop need not read it back. */
  offer(batch: Batch): void {
    if (batch.last > this.processedSeq && this.cached + batch.last - batch.seq < CACHE_EVENTS) {
      this.cache.set(batch.seq, batch);
      this.cached += batch.last - batch.seq + 1;
    }
    this.notify(batch.last);
  }

  /** The latest pane of every window fired so far. */
  entries(): unknown[] {
    return this.view.entries();
  }

  status(): LeaderStatus {
    return { ...this.counters(), lastCheckpoint: this.lastCheckpoint, viewWindows: this.view.size, failed: this.failed };
  }

  /** Writes a checkpoint of everything processed so far (waits for one in flight first). */
  async checkpoint(): Promise<void> {
    while (this.writing) await this.writing;
    if (this.failed || this.stopped || this.processedSeq === this.checkpointedSeq) return;
    await this.write();
  }

  /** Stops processing; with `final`, writes a last checkpoint first. */
  async stop(final: boolean): Promise<void> {
    if (final) await this.checkpoint().catch((err) => this.hooks.error(err));
    this.stopped = true;
    this.cancelTimer?.();
    this.run?.unsubscribe();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.stopped && !this.failed && this.processedSeq < this.knownLast) {
        const cached = this.cache.get(this.processedSeq + 1);
        const batches: Batch[] = cached ? [cached] : await this.store.readAfter(this.processedSeq, READ_AHEAD);
        if (this.stopped) return;
        // Nothing stored up to knownLast: those events were dropped by the
        // 'drop-oldest' policy before they were processed.
        if (batches.length === 0) this.processedSeq = this.knownLast;
        for (const batch of batches) {
          const hit = this.cache.get(batch.seq);
          if (hit) this.uncache(batch.seq, hit);
          if (batch.last <= this.processedSeq) continue;
          this.process(batch);
          if (this.failed) break;
          this.processedSeq = batch.last;
        }
        this.publish();
        this.maybeCheckpoint();
        if (this.cache.size > 64)
          for (const [seq, b] of this.cache) if (b.last <= this.processedSeq) this.uncache(seq, b);
      }
    } catch (err) {
      this.hooks.error(err);
    } finally {
      this.pumping = false;
    }
  }

  private uncache(seq: number, batch: Batch): void {
    this.cache.delete(seq);
    this.cached -= batch.last - batch.seq + 1;
  }

  private process(batch: Batch): void {
    const { run } = this;
    if (batch.encoding === 'columns') {
      const columns = batch.events as Columns;
      const row = this.options.row;
      if (!row) {
        this.fail(new Error('a columnar batch reached a runtime without a `row` option; pass row to serveRuntime'));
        return;
      }
      for (let i = 0; i < columns.length && !run.closed; i++) run.push(row(columns, i));
      return;
    }
    // JSON records are parsed here when read back from the outbox; this tab's
    // own batches arrive already parsed (offered as objects).
    run.pushAll((batch.encoding === 'json' ? JSON.parse(batch.events as string) : batch.events) as readonly unknown[]);
  }

  private publish(): void {
    if (this.fired.length > 0) {
      const fired = this.fired;
      this.fired = [];
      this.hooks.results(fired);
    }
    this.hooks.processed(this.processedSeq);
  }

  private maybeCheckpoint(): void {
    const pending = this.processedSeq - this.checkpointedSeq;
    if (pending <= 0 || this.writing || this.failed) return;
    const due = this.options.now() - this.lastCheckpointAt >= this.options.checkpointEveryMs;
    if (pending >= this.options.checkpointEveryEvents || due) {
      void this.write().catch((err) => this.hooks.error(err));
      return;
    }
    // Quiet input: make sure processed events are covered within checkpointEveryMs.
    if (!this.cancelTimer)
      this.cancelTimer = this.options.setTimer(() => {
        this.cancelTimer = undefined;
        this.maybeCheckpoint();
      }, this.options.checkpointEveryMs);
  }

  private write(): Promise<void> {
    const started = this.options.now();
    // Snapshot and view are copies taken between two records, so processing
    // goes on while the transaction runs.
    const seq = this.processedSeq;
    const snapshot = this.run.snapshot();
    const view = this.view.encode();
    const openWindows = this.counters().openWindows;
    this.writing = this.store
      .writeCheckpoint({ seq, at: started, snapshot, view }, this.epoch, this.options.limits, this.options.now())
      .then(
        () => {
          this.checkpointedSeq = Math.max(this.checkpointedSeq, seq);
          this.lastCheckpointAt = this.options.now();
          this.lastCheckpoint = { seq, at: started, durationMs: this.options.now() - started, openWindows };
        },
        (err) => {
          if (err instanceof LeadershipLost) void this.stop(false);
          throw err;
        },
      )
      .finally(() => {
        this.writing = undefined;
        if (!this.stopped) this.maybeCheckpoint();
      });
    return this.writing;
  }

  /** The pipeline's watermark, open windows and late records, from one pass over its operators' stats. */
  private counters(): { watermark: number; openWindows: number; lateRecords: number } {
    const c = { watermark: Number.NEGATIVE_INFINITY, openWindows: 0, lateRecords: 0 };
    if (!this.run || this.run.closed) return c;
    for (const s of Object.values(this.run.stats())) {
      if (typeof s.watermark === 'number' && s.kind.startsWith('eventTime')) c.watermark = Math.max(c.watermark, s.watermark);
      if (typeof s.openWindows === 'number') c.openWindows += s.openWindows;
      if (typeof s.lateRecords === 'number') c.lateRecords += s.lateRecords;
    }
    return c;
  }

  private fail(err: unknown): void {
    if (this.failedWith !== undefined) return;
    this.failedWith = err ?? new Error('the pipeline failed');
    this.hooks.error(err);
  }
}
