/**
 * Typed errors thrown by Tidemark. Every error has a stable `name` you can
 * branch on (it survives structured clone across a worker boundary, unlike
 * `instanceof`) and a message that says how to fix the problem.
 *
 * @module
 */

/**
 * Base class of every error Tidemark throws on purpose.
 *
 * @example
 * ```ts
 * import { tumbling, TidemarkError } from 'tidemark';
 * try {
 *   tumbling(0);
 * } catch (e) {
 *   if (e instanceof TidemarkError) console.error(e.name, e.message);
 * }
 * ```
 */
export class TidemarkError extends Error {
  override name = 'TidemarkError';
}

/**
 * An option given to a factory (`tumbling`, `windowBy`, `eventTime`, …) is
 * missing or out of range. Thrown eagerly, when the factory is called, never
 * in the middle of a stream.
 *
 * @example
 * ```ts
 * import { sliding, InvalidOptionError } from 'tidemark';
 * try {
 *   sliding(10_000, 60_000); // slide larger than size
 * } catch (e) {
 *   console.log(e instanceof InvalidOptionError, (e as Error).message);
 * }
 * ```
 */
export class InvalidOptionError extends TidemarkError {
  override name = 'InvalidOptionError';
  /** The option's path, e.g. `windowBy.allowedLateness`. */
  readonly option: string;
  constructor(option: string, message: string) {
    super(`${option}: ${message}`);
    this.option = option;
  }
}

/**
 * A record could not be processed: its timestamp is not a finite number, or
 * its key is neither a string nor a finite number. Delivered to the
 * operator's `invalid` handler when one is given; otherwise the stream errors
 * with it.
 *
 * @example
 * ```ts
 * import { from } from 'rxjs';
 * import { eventTime, InvalidRecordError } from 'tidemark';
 * from([{ ts: Number.NaN }]).pipe(eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 0 }))
 *   .subscribe({ error: (e) => console.log(e instanceof InvalidRecordError) });
 * ```
 */
export class InvalidRecordError extends TidemarkError {
  override name = 'InvalidRecordError';
  /** The offending record, untouched. */
  readonly record: unknown;
  constructor(message: string, record: unknown) {
    super(message);
    this.record = record;
  }
}

/**
 * A snapshot cannot be restored into this pipeline: it was taken from a
 * pipeline of another shape, or it is not a Tidemark snapshot at all.
 *
 * @example
 * ```ts
 * import { createPipeline, SnapshotError } from 'tidemark';
 * const p = createPipeline((s) => s);
 * try {
 *   p.run([], () => {}, { restore: { format: 'nope' } as never });
 * } catch (e) {
 *   console.log(e instanceof SnapshotError);
 * }
 * ```
 */
export class SnapshotError extends TidemarkError {
  override name = 'SnapshotError';
}

/**
 * The `name` and `message` of anything thrown (an Error, a DOMException, an
 * error rebuilt by comlink, or any value), for reports and messages. @internal
 */
export function errorParts(err: unknown): { name: string; message: string } {
  const e = err as { name?: unknown; message?: unknown } | null;
  return {
    name: typeof e?.name === 'string' ? e.name : 'Error',
    message: typeof e?.message === 'string' ? e.message : describe(err),
  };
}

/** A short, safe description of a value for error messages. @internal */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'undefined') return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/**
 * The runtime's pipeline failed (a key or timestamp function threw, or a
 * checkpoint could not be restored into it), so `drain()` cannot promise
 * processing. Events are still stored; they are processed once the pipeline
 * is fixed and the page reloaded.
 *
 * @example
 * ```ts
 * import { PipelineError } from 'tidemark';
 * const e = new PipelineError('the pipeline failed (Error: key function threw); events are still stored');
 * console.log(e.name); // PipelineError
 * ```
 */
export class PipelineError extends TidemarkError {
  override name = 'PipelineError';
}

/**
 * A call across the worker boundary, or an IndexedDB `open()`, did not
 * complete within its time limit. The operation may still complete later;
 * the runtime never leaves a caller waiting forever.
 *
 * @example
 * ```ts
 * import { TimeoutError } from 'tidemark';
 * const e = new TimeoutError('drain() did not complete within 30000 ms');
 * console.log(e.name); // TimeoutError
 * ```
 */
export class TimeoutError extends TidemarkError {
  override name = 'TimeoutError';
}

/**
 * A checkpoint write found a newer leader's epoch: this writer lost
 * leadership (another tab or process took over) and must stop writing.
 * The Runner stops when it sees it; nothing is lost, the new leader goes on
 * from the last checkpoint.
 *
 * @example
 * ```ts
 * import { LeadershipLost } from 'tidemark';
 * const e = new LeadershipLost('epoch 3 was superseded by 4');
 * console.log(e.name); // LeadershipLost
 * ```
 */
export class LeadershipLost extends TidemarkError {
  override name = 'LeadershipLost';
}

/**
 * The runtime's Web Worker failed to start, threw while loading, or died;
 * calls pending at that moment reject with this error. The runtime starts a
 * new worker and re-sends every batch that was not yet durable.
 *
 * @example
 * ```ts
 * import { WorkerError } from 'tidemark';
 * const e = new WorkerError('the worker died: SyntaxError in analytics.worker.ts');
 * console.log(e.name); // WorkerError
 * ```
 */
export class WorkerError extends TidemarkError {
  override name = 'WorkerError';
}

/**
 * A runtime method was called after `close()`. Create a new runtime instead.
 *
 * @example
 * ```ts
 * import { RuntimeClosedError } from 'tidemark';
 * console.log(new RuntimeClosedError('view() after close()').name); // RuntimeClosedError
 * ```
 */
export class RuntimeClosedError extends TidemarkError {
  override name = 'RuntimeClosedError';
}

/**
 * A feature needs a package that Tidemark lists as an optional peer
 * dependency, and it is not installed: the NATS client for the JetStream log
 * (`@nats-io/transport-node`, `@nats-io/jetstream`), or esbuild for
 * `tidemark build-edge`. The message holds the `npm install` command.
 *
 * @example
 * ```ts
 * import { MissingDependencyError } from 'tidemark/server';
 * const e = new MissingDependencyError('the JetStream log needs @nats-io/transport-node: npm install @nats-io/transport-node');
 * console.log(e.name); // MissingDependencyError
 * ```
 */
export class MissingDependencyError extends TidemarkError {
  override name = 'MissingDependencyError';
}

/**
 * IndexedDB failed: the database could not be opened, a transaction was
 * aborted, or the browser refused to store more (`cause` is the browser's
 * `DOMException`, e.g. `QuotaExceededError`).
 *
 * @example
 * ```ts
 * import { StorageError } from 'tidemark';
 * const e = new StorageError('the outbox write failed', { cause: new Error('QuotaExceededError') });
 * console.log(e.name, e.cause instanceof Error); // StorageError true
 * ```
 */
export class StorageError extends TidemarkError {
  override name = 'StorageError';
}

/**
 * A batch run was asked for while another one holds the batch lock of the
 * data directory (in `tidemark serve --pipeline`, or a `tidemark
 * reconcile`): two batch runs never overlap. The message names the process;
 * wait for it to end. `POST /v1/reconcile` answers it with `409`.
 *
 * @example
 * ```ts
 * import { BatchRunningError } from 'tidemark';
 * const err: unknown = new BatchRunningError('a batch run over ./data is under way in process 42');
 * console.log(err instanceof BatchRunningError); // true
 * ```
 */
export class BatchRunningError extends StorageError {
  override name = 'BatchRunningError';
}

/**
 * Events were refused because the outbox is full (limit policy `'reject'`)
 * or the browser's storage quota is exhausted. `drain()` rejects with it so
 * that its promise never claims durability for events that are not stored.
 *
 * @example
 * ```ts
 * import { OutboxFullError } from 'tidemark';
 * const e = new OutboxFullError('3 events refused: the outbox holds 1000000 events (maxEvents)', 3);
 * console.log(e.name, e.refused); // OutboxFullError 3
 * ```
 */
export class OutboxFullError extends TidemarkError {
  override name = 'OutboxFullError';
  /** How many events were refused. */
  readonly refused: number;
  constructor(message: string, refused: number) {
    super(message);
    this.refused = refused;
  }
}

/**
 * A request broke the wire protocol (`tidemark/protocol`): a malformed
 * body, a bad client id, a missing token. `status` is the HTTP status the
 * server answers with, and `field` the offending field's path for a `400`.
 *
 * @example
 * ```ts
 * import { parseIngest, ProtocolError } from 'tidemark/protocol';
 * try {
 *   parseIngest({ clientId: 'c1', events: [{ seq: 0, ts: 1, data: {} }] });
 * } catch (e) {
 *   if (e instanceof ProtocolError) console.log(e.status, e.field); // 400 events[0].seq
 * }
 * ```
 */
export class ProtocolError extends TidemarkError {
  override name = 'ProtocolError';
  /** The HTTP status this error is answered with. */
  readonly status: number;
  /** The offending field's path (`events[3].seq`), when one is to blame. */
  readonly field: string | undefined;
  constructor(status: number, message: string, field?: string) {
    super(field === undefined ? message : `${field}: ${message}`);
    this.status = status;
    this.field = field;
  }
}
