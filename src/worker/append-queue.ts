/**
 * The worker's append path: batches from the page are checked, then
 * appended to the outbox with group commit (every batch waiting shares one
 * IndexedDB transaction), and each caller gets its batch's receipt.
 *
 * @module
 */
import { describe, errorParts } from '../errors.js';
import type { Clock } from '../time/clock.js';
import type { AppendReceipt, Columns, Encoding, Payload } from './contract.js';
import type { OutboxLimits, PendingBatch, RuntimeStore } from './outbox-store.js';

/** A batch waiting for its transaction, with its events as the pipeline takes them. */
export interface QueuedBatch {
  readonly batch: PendingBatch;
  /** A JSON batch parsed once, here (which also checks it); objects or columns as they came. */
  readonly decoded: readonly unknown[] | Columns;
}

/** What the queue reports. */
export interface AppendHooks {
  /** `batch` is durable as `first..last` (not a duplicate of one stored before). */
  stored(batch: QueuedBatch, first: number, last: number): void;
  /** Events up to `last` are durable (once per transaction that stored any). */
  appended(last: number): void;
  report(err: unknown): void;
}

/** Events per group at most (objects count fully, JSON and columns an eighth: they cost far less to store). */
const MAX_GROUP_EVENTS = 32_768;

/**
 * Group commit: batches arriving while a transaction runs share the next
 * one. Two transactions are in flight at once: IndexedDB runs them in
 * order, and the second is queued before the first commits, so the worker
 * never sits idle waiting for a commit.
 */
export class AppendQueue {
  private readonly queue: (QueuedBatch & { resolve: (r: AppendReceipt) => void })[] = [];
  private readonly committing = new Set<Promise<void>>();

  constructor(
    private readonly store: RuntimeStore,
    private readonly limits: OutboxLimits,
    private readonly clock: Clock,
    private readonly hooks: AppendHooks,
  ) {}

  /** Queues `batch`; resolves with its receipt once its transaction settled. */
  push(batch: PendingBatch, decoded: readonly unknown[] | Columns): Promise<AppendReceipt> {
    return new Promise<AppendReceipt>((resolve) => {
      this.queue.push({ batch, decoded, resolve });
      this.commit();
    });
  }

  /** Resolves once nothing is queued or committing. */
  async flush(): Promise<void> {
    while (this.committing.size > 0 || this.queue.length > 0) await Promise.all(this.committing);
  }

  private takeGroup() {
    // Bounded groups let the pipeline start on one while the next commits.
    const weight = (b: PendingBatch) => (b.encoding === 'structured-clone' ? b.length : b.length / 8);
    let load = 0;
    let n = 0;
    while (n < this.queue.length && (n === 0 || load + weight(this.queue[n]!.batch) <= MAX_GROUP_EVENTS))
      load += weight(this.queue[n++]!.batch);
    return this.queue.splice(0, n);
  }

  private settle(group: ReturnType<AppendQueue['takeGroup']>, receipts: readonly AppendReceipt[]): void {
    let last = 0;
    group.forEach((g, i) => {
      const r = receipts[i]!;
      if (r.ok && r.last >= r.first) {
        last = Math.max(last, r.last);
        if (!r.duplicate) this.hooks.stored(g, r.first, r.last);
      } else if (!r.ok)
        this.hooks.report({ name: r.reason === 'limit' || r.reason === 'quota' ? 'OutboxFullError' : 'StorageError', message: r.message });
      g.resolve(r);
    });
    if (last > 0) this.hooks.appended(last);
  }

  private commit(): void {
    while (this.queue.length > 0 && this.committing.size < 2) {
      const group = this.takeGroup();
      const done: Promise<void> = this.store
        .append(
          group.map((g) => g.batch),
          this.limits,
          this.clock.now(),
        )
        .then(
          (receipts) => this.settle(group, receipts),
          (err) => {
            this.hooks.report(err);
            const { message } = errorParts(err);
            this.settle(
              group,
              group.map((g) => ({ ok: false, refused: g.batch.length, reason: 'storage', message })),
            );
          },
        )
        .finally(() => {
          this.committing.delete(done);
          this.commit();
        });
      this.committing.add(done);
    }
  }
}

/** The events of a batch as the pipeline takes them, or why the batch is malformed. */
export function decodeBatch(payload: Payload, encoding: Encoding, length: number): readonly unknown[] | Columns | string {
  if (!Number.isSafeInteger(length) || length < 0) return `malformed batch: length ${describe(length)}`;
  let events: unknown = payload;
  if (encoding === 'json') {
    if (typeof payload !== 'string') return 'malformed batch: a JSON batch must be a string';
    try {
      events = JSON.parse(payload);
    } catch {
      return 'malformed batch: not valid JSON';
    }
  } else if (encoding === 'columns') {
    return (payload as Columns | null)?.length === length ? (payload as Columns) : 'malformed columns: wrong length';
  } else if (encoding !== 'structured-clone') return `malformed batch: unknown encoding ${describe(encoding)}`;
  return Array.isArray(events) && events.length === length
    ? events
    : `malformed batch: expected an array of ${length} events`;
}
