/**
 * One partition's pipeline over its {@link EdgeStore}: restore the
 * checkpoint, replay the outbox after it, then append → process →
 * checkpoint every batch, and drain the outbox upstream. Platform-free: the
 * Durable Object class (`edge-partition.ts`) gives it storage, a clock and
 * a way to send; Node tests give it memory.
 *
 * @module
 */
import { createPipeline } from '../checkpoint/pipeline.js';
import { Runner } from '../host/runner.js';
import { systemClock } from '../time/clock.js';
import type { RunnerBatch, RunnerStore } from '../host/store.js';
import { errorParts } from '../errors.js';
import { backoffDelay, encodeEvents, IngestBody } from '../protocol/client.js';
import { LIMITS, type ViewRow, type WireEvent } from '../protocol/wire.js';
import type { AppendOutcome } from '../host/ingest/log.js';
import type { BatchPipeline } from '../host/pipeline-session.js';
import type { WindowResult } from '../windows/window-result.js';
import { compareWindows } from '../windows/identity.js';
import type { EdgeRecord, EdgeStore } from './durable-object-store.js';

/** Consecutive outbox records of one client, sent upstream as one `POST /v1/ingest`. */
export interface ForwardBatch {
  readonly clientId: string;
  readonly records: readonly EdgeRecord[];
  /** Number of events. */
  readonly events: number;
  /** The request body, `{"clientId":…,"events":[…]}`. */
  readonly body: string;
}

/**
 * What sending one batch upstream did, as the protocol's client policy
 * decides (`src/protocol/client.ts`): `retry` and `pause` keep the batch and
 * wait (`afterMs`: the upstream's `Retry-After`), `refused` sets it aside.
 */
export type ForwardOutcome =
  | { readonly kind: 'acked' }
  | { readonly kind: 'retry' | 'pause'; readonly reason: string; readonly afterMs?: number }
  | { readonly kind: 'refused'; readonly status: number; readonly reason: string };

/** How a partition runs. */
export interface PartitionSettings {
  readonly checkpointEveryEvents: number;
  readonly viewMaxWindows: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly maxRecordsPerAlarm: number;
  readonly now: () => number;
  /** Uniform in `[0, 1)`, for the backoff's jitter (default `Math.random`). */
  readonly random?: () => number;
}

/** `GET /v1/results` for one partition: its live view and progress. */
export interface PartitionResults {
  /** Latest pane of every window fired so far, sorted by key, start, end. */
  readonly windows: readonly WindowResult<string | number, unknown>[];
  /**
   * The same windows as the server's served view shows them (`GET /v1/views`):
   * `source: 'speed'`, `final: false` (the server's batch layer makes
   * windows final), `version` the pane number.
   */
  readonly rows: readonly ViewRow[];
  /** Every event up to this partition sequence is reflected in `windows`. */
  readonly processed: number;
  /** The sequence the latest checkpoint covers. */
  readonly checkpoint: number;
  /** Every event up to this partition sequence reached the upstream log (or was refused by it for good). */
  readonly forwarded: number;
  /** Outbox records kept (not yet both forwarded and checkpointed). */
  readonly outbox: number;
  /** Set when the pipeline threw: it stops; events are still stored and forwarded. */
  readonly failed: { readonly name: string; readonly message: string } | null;
  /** Why the last forwarding attempt or checkpoint failed (`null` once one succeeds), and failed forwarding attempts in a row. */
  readonly trouble: { readonly lastError: string | null; readonly forwardAttempts: number };
}

/** The partition's outbox and checkpoint as the Runner's store; a failed checkpoint write is noted as trouble. @internal */
export function partitionStore(store: EdgeStore, trouble: (message: string) => void): RunnerStore {
  return {
    loadCheckpoint: () => store.loadCheckpoint(),
    async readAfter(seq, maxBatches) {
      const records = await store.readAfter(seq, maxBatches);
      return records.map(runnerBatch);
    },
    async writeCheckpoint({ seq, at, snapshot, view }) {
      try {
        await store.writeCheckpoint({ seq, at, snapshot, view: view as unknown[] });
      } catch (e) {
        trouble(`checkpoint: ${errorParts(e).message}`);
        throw e;
      }
    },
    lastSeq: async () => store.lastSeq(),
  };
}

/** An outbox record as the pipeline takes it: its events' `data`. */
function runnerBatch(record: EdgeRecord): RunnerBatch {
  return { seq: record.seq, last: record.last, events: record.events.map((e) => e.data) };
}

/** A partition's pipeline (on the shared {@link Runner}), view and outbox drain. Calls are serialised. */
export class PartitionRunner {
  private attempts = 0;
  private lastError: string | null = null;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly store: EdgeStore,
    private readonly runner: Runner,
    private readonly settings: PartitionSettings,
  ) {}

  /** Restores the latest checkpoint and replays the outbox records after it. */
  static async open(store: EdgeStore, pipeline: BatchPipeline, settings: PartitionSettings): Promise<PartitionRunner> {
    let partition: PartitionRunner | undefined;
    const runner = new Runner({
      store: partitionStore(store, (message) => {
        if (partition) partition.lastError = message;
      }),
      pipeline: createPipeline(pipeline),
      // One writer per partition (a Durable Object is single-threaded): no epochs.
      checkpoint: { everyEvents: settings.checkpointEveryEvents, everyMs: Number.POSITIVE_INFINITY },
      view: { maxWindows: settings.viewMaxWindows, encoding: 'entries' },
      clock: { now: settings.now, timeout: systemClock.timeout },
    });
    partition = new PartitionRunner(store, runner, settings);
    await runner.start();
    await runner.idle();
    return partition;
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const result = this.queue.then(op);
    this.queue = result.catch(() => undefined);
    return result;
  }

  /**
   * Appends one validated client batch (durable before it answers), runs the
   * new events through the pipeline, and checkpoints every
   * `checkpointEveryEvents`. Answers like the server: a replayed event is a
   * duplicate, acknowledged and not counted again.
   */
  ingest(clientId: string, events: readonly WireEvent[], receivedAt: number): Promise<{ outcome: AppendOutcome; appended: boolean }> {
    return this.serial(async () => {
      const [receipt] = await this.store.append([{ clientId, events, receivedAt }]);
      const { outcome, record } = receipt!;
      if (!record) return { outcome, appended: false };
      // The events are durable already: a failed checkpoint is retried with
      // the next batch (a restart would replay a little more), not answered
      // as a failed ingest that the client would have to send again.
      this.runner.offer(runnerBatch(record));
      await this.runner.idle();
      return { outcome, appended: true };
    });
  }

  /** Writes a checkpoint now (snapshot + view + position, one commit). */
  checkpoint(): Promise<void> {
    return this.serial(() => this.runner.checkpoint());
  }

  /** The live view and progress. */
  async results(): Promise<PartitionResults> {
    const windows = this.runner.entries().sort(compareWindows);
    const failure = this.runner.failure;
    return {
      windows,
      rows: windows.map((w) => ({ key: w.key, start: w.start, end: w.end, value: w.value, source: 'speed', final: false, version: w.pane })),
      processed: this.runner.processed,
      checkpoint: this.runner.checkpointed,
      forwarded: await this.store.acked(),
      outbox: await this.store.records(),
      failed: failure ? errorParts(failure.error) : null,
      trouble: { lastError: this.lastError, forwardAttempts: this.attempts },
    };
  }

  /**
   * Sends outbox records after the forwarded position upstream, in order,
   * up to `maxRecordsPerAlarm`, consecutive records of one client merged into
   * one request (see {@link forwardBatches}). Answers when to call again (ms
   * from now): `0` if records remain, the protocol's backoff after a failure
   * (`backoffDelay`: full jitter after `retry`, half to all of `maxBackoffMs`
   * after `pause`, never less than `Retry-After`), `undefined` when the
   * outbox is drained.
   */
  async forward(send: (batch: ForwardBatch) => Promise<ForwardOutcome>): Promise<number | undefined> {
    let from = await this.store.acked();
    const records = await this.store.readAfter(from, this.settings.maxRecordsPerAlarm);
    for (const batch of forwardBatches(records)) {
      const out = await send(batch);
      if (out.kind === 'retry' || out.kind === 'pause') {
        this.lastError = `forward: ${out.reason}`;
        return backoffDelay(out.kind, this.attempts++, this.settings, this.settings.random, out.afterMs);
      }
      this.attempts = 0;
      this.lastError = out.kind === 'refused' ? `forward: refused for good, kept aside: ${out.reason}` : null;
      const last = batch.records[batch.records.length - 1]!.last;
      if (out.kind === 'refused')
        for (const record of batch.records) await this.store.deadLetter({ record, status: out.status, reason: out.reason });
      else await this.store.ack(last);
      from = last;
    }
    return records.length === this.settings.maxRecordsPerAlarm || from < this.store.lastSeq() ? 0 : undefined;
  }
}

/** Most events and characters in one forwarded request (the server takes 50 000 events and 4 MiB, at most 3 bytes a character). */
const FORWARD_EVENTS = LIMITS.maxEventsPerRequest;
const FORWARD_CHARS = 1_000_000;

/**
 * Groups records for forwarding: consecutive records of one client are
 * merged while their sequence numbers keep increasing (the server refuses a
 * request whose sequence numbers do not) and the request stays under
 * {@link FORWARD_EVENTS} events and {@link FORWARD_CHARS} characters; a
 * record is never split. Under load an alarm then sends one request where
 * it would send many.
 */
export function forwardBatches(records: readonly EdgeRecord[]): ForwardBatch[] {
  const out: ForwardBatch[] = [];
  let group: { records: EdgeRecord[]; body: IngestBody; lastSeq: number } | undefined;
  const flush = () => {
    if (group)
      out.push({ clientId: group.body.clientId, records: group.records, events: group.body.events, body: group.body.encode() });
  };
  for (const r of records) {
    const part = encodeEvents(r.events);
    const first = r.events[0]?.seq ?? 0;
    if (
      !group ||
      group.body.clientId !== r.clientId ||
      first <= group.lastSeq ||
      group.body.events + r.events.length > FORWARD_EVENTS ||
      group.body.lengthWith(part) > FORWARD_CHARS
    ) {
      flush();
      group = { records: [], body: new IngestBody(r.clientId), lastSeq: 0 };
    }
    group.records.push(r);
    group.body.add(part, r.events.length);
    group.lastSeq = r.events[r.events.length - 1]?.seq ?? group.lastSeq;
  }
  flush();
  return out;
}
