/**
 * The page's outgoing events: `emit()` only pushes into an array, which is
 * cut into batches (at `batchSize` events, or at the end of the current
 * task) that cross to the worker one message each, never one per event.
 * A batch stays here, in flight, until the worker answers that it is
 * durable: when the worker dies, everything not acknowledged is sent again,
 * in order, before anything new (batch ids make the re-send idempotent).
 * Events that cannot be encoded are refused one by one, never the batch.
 *
 * @module
 */
import { errorParts, InvalidRecordError, OutboxFullError, StorageError } from '../errors.js';
import type { Clock } from '../time/clock.js';
import type { AppendReceipt, Columns, Encoding, Payload } from '../worker/contract.js';
import type { Sender } from './sender.js';

/** A refused batch, as its receipt says. */
export type Refusal = Extract<AppendReceipt, { ok: false }>;

/** How long a batch the worker could not store (IndexedDB failed even after reopening) waits before it is sent again. */
const STORAGE_RETRY_MS = 1_000;

interface Batch {
  readonly id: string;
  payload: Payload;
  readonly encoding: Encoding;
  length: number;
  /** Sent before, to a worker that died or failed to store it: it may be stored already. */
  resent: boolean;
  settle: (receipt: AppendReceipt) => void;
  readonly settled: Promise<AppendReceipt>;
}

/** What the queue works with. */
export interface BatchQueueOptions {
  /** How object events cross: one JSON string per batch, or the objects (structured clone). */
  readonly encoding: 'json' | 'structured-clone';
  /** Most events per batch. */
  readonly batchSize: number;
  readonly callTimeoutMs: number;
  readonly clock: Clock;
  readonly report: (err: unknown) => void;
  /** The worker to send to, or `undefined` while it is being replaced (batches then wait). */
  readonly target: () => Sender | undefined;
  /** A send failed because the worker is lost: replace it, then call {@link BatchQueue.resendAll}. */
  readonly lost: (err: unknown) => void;
}

/** Batches not yet durable: buffered, waiting to be sent, or in flight. */
export class BatchQueue {
  /** The highest sequence number the worker answered for a batch of this page. */
  durableThrough = 0;
  private buffer: unknown[] = [];
  private scheduled = false;
  private counter = 0;
  private readonly pageId = randomId();
  /** Not yet sent to the current worker, in order. */
  private outgoing: Batch[] = [];
  /** Sent, waiting for a receipt, in order. */
  private readonly inflight = new Map<string, Batch>();
  /** Refusals not yet reported by a drain(). */
  private readonly refusals: Refusal[] = [];

  constructor(private readonly options: BatchQueueOptions) {}

  /** Queues one event; the batch goes at `batchSize` events or at the end of this task. */
  push(event: unknown): void {
    this.buffer.push(event);
    if (this.buffer.length >= this.options.batchSize) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.flush);
    }
  }

  /** Queues a columnar batch of `length` rows, after what is buffered (emission order holds). */
  pushColumns(columns: Columns, length: number): void {
    this.flush();
    this.outgoing.push(this.newBatch(columns, 'columns', length));
    this.send();
  }

  /** Cuts what is buffered into a batch and sends it. */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.buffer.length === 0) return;
    const events = this.buffer;
    this.buffer = [];
    this.enqueue(events);
    this.send();
  };

  /** Sends every waiting batch, unless the worker is being replaced. */
  send(): void {
    const link = this.options.target();
    if (!link) return;
    const batches = this.outgoing;
    this.outgoing = [];
    for (const batch of batches) {
      this.inflight.set(batch.id, batch);
      link.call('append', this.options.callTimeoutMs, batch.id, batch.payload, batch.encoding, batch.length, batch.resent).then(
        (receipt) => this.received(batch, receipt),
        (err: Error) => {
          if (err?.name === 'DataCloneError' && batch.encoding === 'structured-clone' && this.inflight.get(batch.id) === batch) {
            // postMessage threw, so the worker never saw this batch and its id is free to reuse.
            this.inflight.delete(batch.id);
            const events = batch.payload as readonly unknown[];
            batch.payload = sift(events, structuredClone);
            batch.length = batch.payload.length;
            this.partlyRefused(batch, events.length - batch.length, `not structured-cloneable (${err.message})`);
            this.send();
          } else this.options.lost(err);
        },
      );
    }
  }

  /** After a worker replacement: everything not acknowledged goes again, in order, before anything new. */
  resendAll(): void {
    for (const batch of this.inflight.values()) batch.resent = true;
    this.outgoing = [...this.inflight.values(), ...this.outgoing];
    this.inflight.clear();
  }

  /** Events emitted and not yet durable. */
  get pending(): number {
    return this.buffer.length + [...this.inflight.values(), ...this.outgoing].reduce((n, b) => n + b.length, 0);
  }

  /** The receipts of every batch sent or waiting (call {@link BatchQueue.flush} first to include the buffer). */
  unsettled(): Promise<AppendReceipt>[] {
    return [...this.inflight.values(), ...this.outgoing].map((b) => b.settled);
  }

  /** The refusals not yet reported, which are then forgotten. */
  takeRefusals(): Refusal[] {
    return this.refusals.splice(0);
  }

  private received(batch: Batch, receipt: AppendReceipt): void {
    this.inflight.delete(batch.id);
    if (!receipt.ok && receipt.reason === 'storage') {
      // IndexedDB failed even after reopening: keep the batch and try again.
      this.options.report(new StorageError(receipt.message));
      this.options.clock.timeout(() => {
        batch.resent = true;
        this.outgoing.unshift(batch);
        this.send();
      }, STORAGE_RETRY_MS);
      return;
    }
    if (receipt.ok) this.durableThrough = Math.max(this.durableThrough, receipt.last);
    else this.options.report(new OutboxFullError(receipt.message, receipt.refused));
    batch.settle(receipt);
  }

  private newBatch(payload: Payload, encoding: Encoding, length: number): Batch {
    let settle!: (r: AppendReceipt) => void;
    const settled = new Promise<AppendReceipt>((resolve) => {
      settle = (receipt) => {
        // Remembered for the next drain(), even if it is called after this answer.
        if (!receipt.ok) this.refusals.push(receipt);
        resolve(receipt);
      };
    });
    return { id: `${this.pageId}.${++this.counter}`, payload, encoding, length, resent: false, settle, settled };
  }

  private enqueue(events: unknown[]): void {
    if (this.options.encoding === 'structured-clone') {
      this.outgoing.push(this.newBatch(events, 'structured-clone', events.length));
      return;
    }
    try {
      this.outgoing.push(this.newBatch(JSON.stringify(events), 'json', events.length));
    } catch (err) {
      // A BigInt or a cycle somewhere: refuse exactly those events.
      const kept = sift(events, (e) => JSON.stringify(e));
      const batch = this.newBatch(JSON.stringify(kept), 'json', kept.length);
      this.partlyRefused(batch, events.length - kept.length, `not writable as JSON (${errorParts(err).message})`);
    }
  }

  /**
   * `refused` events of `batch` could not be encoded: the rest is sent, and
   * its receipt becomes a refusal of those events, so drain() reports them.
   */
  private partlyRefused(batch: Batch, refused: number, why: string): void {
    const message = `${refused} events could not be sent to the worker: ${why}`;
    this.options.report(new InvalidRecordError(message, undefined));
    const original = batch.settle;
    batch.settle = (r) => original(r.ok ? { ok: false, refused, reason: 'invalid', message } : r);
    if (batch.length === 0) batch.settle({ ok: false, refused, reason: 'invalid', message });
    else this.outgoing.unshift(batch);
  }
}

/** Keeps the events `encode` accepts. */
function sift(events: readonly unknown[], encode: (event: unknown) => unknown): unknown[] {
  return events.filter((event) => {
    try {
      encode(event);
      return true;
    } catch {
      return false;
    }
  });
}

function randomId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
