/**
 * `drain()`: waits until every event emitted so far is durable (each batch
 * has its receipt) and processed by the pipeline (in whichever tab leads),
 * within one time limit on the page client's clock, riding out worker
 * replacements. Refusals since the previous drain reject it, after the other
 * events are stored.
 *
 * @module
 */
import { InvalidRecordError, OutboxFullError, TimeoutError } from '../errors.js';
import type { Clock } from '../time/clock.js';
import type { BatchQueue } from './batch-queue.js';
import type { DrainReceipt } from './runtime.js';
import type { WorkerSupervisor } from './worker-supervisor.js';

/** Flushes `queue`, then waits for durability and processing of what it held, for at most `timeoutMs`. */
export async function drain(queue: BatchQueue, supervisor: WorkerSupervisor, clock: Clock, timeoutMs: number): Promise<DrainReceipt> {
  const deadline = clock.now() + timeoutMs;
  queue.flush();
  const receipts = queue.unsettled();
  let cancel: (() => void) | undefined;
  const timeout = new Promise<never>((_, reject) => {
    cancel = clock.timeout(
      () => reject(new TimeoutError(`drain() did not complete within ${timeoutMs} ms; see status$ for errors`)),
      timeoutMs,
    );
  });
  try {
    await Promise.race([Promise.all(receipts), timeout]);
    const refusedNow = queue.takeRefusals();
    const refused = refusedNow.reduce((n, r) => n + r.refused, 0);
    const first = refusedNow[0];
    if (first) {
      const message = `${refused} of the events emitted before drain() were refused: ${first.message}`;
      throw first.reason === 'invalid' ? new InvalidRecordError(message, undefined) : new OutboxFullError(message, refused);
    }
    const through = queue.durableThrough;
    await Promise.race([
      supervisor.callUntil('drain()', deadline, (link) => link.call('processed', Math.max(1, deadline - clock.now()), through)),
      timeout,
    ]);
    return { through };
  } finally {
    cancel?.();
  }
}

/** Waits for `receipts`, but not longer than `ms` (close() must not hang on a worker that never answers). */
export async function settleWithin(clock: Clock, ms: number, receipts: readonly Promise<unknown>[]): Promise<void> {
  let cancel: (() => void) | undefined;
  await Promise.race([
    Promise.all(receipts),
    new Promise<void>((resolve) => {
      cancel = clock.timeout(resolve, ms);
    }),
  ]);
  cancel?.();
}
