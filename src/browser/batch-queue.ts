/**
 * The page's outgoing events: `emit()` only pushes into an array, which is
 * cut into batches (at `batchSize` events, or at the end of the current
 * task) that cross to the worker one message each, never one per event.
 * A batch stays here, in flight, until the worker answers that it is
 * durable: when the worker dies, everything not acknowledged is sent again,
 * in order, before anything new (batch ids make the re-send idempotent).
 * Events that cannot be encoded are refused one by one, never the batch.
 *
 * A closure rather than a class: its state then minifies to short local
 * names (the page bundle is a budget, `scripts/size-report.mjs`).
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
export interface BatchQueue {
  /** The highest sequence number the worker answered for a batch of this page. */
  readonly durableThrough: number;
  /** Events emitted and not yet durable. */
  readonly pending: number;
  /** Queues one event; the batch goes at `batchSize` events or at the end of this task. */
  push(event: unknown): void;
  /** Queues a columnar batch of `length` rows, after what is buffered (emission order holds). */
  pushColumns(columns: Columns, length: number): void;
  /** Cuts what is buffered into a batch and sends it. */
  flush(): void;
  /** Sends every waiting batch, unless the worker is being replaced. */
  send(): void;
  /** After a worker replacement: everything not acknowledged goes again, in order, before anything new. */
  resendAll(): void;
  /** The receipts of every batch sent or waiting (call `flush()` first to include the buffer). */
  unsettled(): Promise<AppendReceipt>[];
  /** The refusals not yet reported, which are then forgotten. */
  takeRefusals(): Refusal[];
}

/** An empty queue. */
export function batchQueue({ encoding, batchSize, callTimeoutMs, clock, report, target, lost }: BatchQueueOptions): BatchQueue {
  const pageId = randomId();
  let durableThrough = 0;
  let buffer: unknown[] = [];
  let scheduled = false;
  let counter = 0;
  /** Not yet sent to the current worker, in order. */
  let outgoing: Batch[] = [];
  /** Sent, waiting for a receipt, in order. */
  const inflight = new Map<string, Batch>();
  /** Refusals not yet reported by a drain(). */
  const refusals: Refusal[] = [];

  const newBatch = (payload: Payload, batchEncoding: Encoding, length: number): Batch => {
    let settle!: (r: AppendReceipt) => void;
    const settled = new Promise<AppendReceipt>((resolve) => {
      settle = (receipt) => {
        // Remembered for the next drain(), even if it is called after this answer.
        if (!receipt.ok) refusals.push(receipt);
        resolve(receipt);
      };
    });
    return { id: `${pageId}.${++counter}`, payload, encoding: batchEncoding, length, resent: false, settle, settled };
  };

  /**
   * `refused` events of `batch` could not be encoded: the rest is sent, and
   * its receipt becomes a refusal of those events, so drain() reports them.
   */
  const partlyRefused = (batch: Batch, refused: number, why: string) => {
    const message = `${refused} events could not be sent to the worker: ${why}`;
    report(new InvalidRecordError(message, undefined));
    const original = batch.settle;
    batch.settle = (r) => original(r.ok ? { ok: false, refused, reason: 'invalid', message } : r);
    if (batch.length === 0) batch.settle({ ok: false, refused, reason: 'invalid', message });
    else outgoing.unshift(batch);
  };

  const enqueue = (events: unknown[]) => {
    if (encoding === 'structured-clone') {
      outgoing.push(newBatch(events, 'structured-clone', events.length));
      return;
    }
    try {
      outgoing.push(newBatch(JSON.stringify(events), 'json', events.length));
    } catch (err) {
      // A BigInt or a cycle somewhere: refuse exactly those events.
      const kept = sift(events, (e) => JSON.stringify(e));
      const batch = newBatch(JSON.stringify(kept), 'json', kept.length);
      partlyRefused(batch, events.length - kept.length, `not writable as JSON (${errorParts(err).message})`);
    }
  };

  const received = (batch: Batch, receipt: AppendReceipt) => {
    inflight.delete(batch.id);
    if (!receipt.ok && receipt.reason === 'storage') {
      // IndexedDB failed even after reopening: keep the batch and try again.
      report(new StorageError(receipt.message));
      clock.timeout(() => {
        batch.resent = true;
        outgoing.unshift(batch);
        send();
      }, STORAGE_RETRY_MS);
      return;
    }
    if (receipt.ok) durableThrough = Math.max(durableThrough, receipt.last);
    else report(new OutboxFullError(receipt.message, receipt.refused));
    batch.settle(receipt);
  };

  const send = () => {
    const link = target();
    if (!link) return;
    const batches = outgoing;
    outgoing = [];
    for (const batch of batches) {
      inflight.set(batch.id, batch);
      link.call('append', callTimeoutMs, batch.id, batch.payload, batch.encoding, batch.length, batch.resent).then(
        (receipt) => received(batch, receipt),
        (err: Error) => {
          if (err?.name === 'DataCloneError' && batch.encoding === 'structured-clone' && inflight.get(batch.id) === batch) {
            // postMessage threw, so the worker never saw this batch and its id is free to reuse.
            inflight.delete(batch.id);
            const events = batch.payload as readonly unknown[];
            batch.payload = sift(events, structuredClone);
            batch.length = batch.payload.length;
            partlyRefused(batch, events.length - batch.length, `not structured-cloneable (${err.message})`);
            send();
          } else lost(err);
        },
      );
    }
  };

  const flush = () => {
    scheduled = false;
    if (buffer.length === 0) return;
    const events = buffer;
    buffer = [];
    enqueue(events);
    send();
  };

  return {
    get durableThrough() {
      return durableThrough;
    },
    get pending() {
      return buffer.length + [...inflight.values(), ...outgoing].reduce((n, b) => n + b.length, 0);
    },
    push(event) {
      buffer.push(event);
      if (buffer.length >= batchSize) flush();
      else if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
    },
    pushColumns(columns, length) {
      flush();
      outgoing.push(newBatch(columns, 'columns', length));
      send();
    },
    flush,
    send,
    resendAll() {
      for (const batch of inflight.values()) batch.resent = true;
      outgoing = [...inflight.values(), ...outgoing];
      inflight.clear();
    },
    unsettled: () => [...inflight.values(), ...outgoing].map((b) => b.settled),
    takeRefusals: () => refusals.splice(0),
  };
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
