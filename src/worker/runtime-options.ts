/**
 * The options of `serveRuntime`, the worker side of the browser runtime
 * (validated in `settings.ts`).
 *
 * @module
 */
import type { Observable } from 'rxjs';
import type { Columns } from './contract.js';

/** Bounds of the outbox, and what happens when an append would exceed them (see {@link ServeRuntimeOptions.outbox}). */
export interface OutboxOptions {
  /** Most events stored (default 1 000 000). */
  readonly maxEvents?: number;
  /** Most bytes stored, as estimated from the events' JSON size (default 64 MiB). */
  readonly maxBytes?: number;
  /** Processed events older than this are deleted even if no server acknowledged them (default 7 days). */
  readonly maxAgeMs?: number;
  /** `'drop-oldest'` (default) deletes the oldest events; `'reject'` refuses new ones. */
  readonly policy?: 'reject' | 'drop-oldest';
}

/** Options of {@link serveRuntime}. */
// `E = any`: an unannotated `events$` takes its event type from the operators.
export interface ServeRuntimeOptions<E = any, R = unknown, C extends Columns = any> {
  /**
   * The runtime's name: its IndexedDB database, leader lock and channel are
   * `tidemark:<name>`. Tabs using the same name share one outbox and one
   * pipeline state. 1–64 characters of `A–Z a–z 0–9 . _ -`.
   */
  readonly name: string;
  /** Builds the pipeline from the stream of emitted events, as for `createPipeline`. */
  readonly pipeline: (events$: Observable<E>) => Observable<R>;
  /** Decodes row `index` of a batch sent with `emitColumns` into an event. Required to accept columns. */
  readonly row?: (columns: C, index: number) => E;
  /**
   * When to checkpoint: after `everyEvents` processed events or `everyMs` ms,
   * whichever comes first (defaults 100 000 and 1 000). A crash replays at most
   * that much from the outbox.
   */
  readonly checkpoint?: { readonly everyEvents?: number; readonly everyMs?: number };
  /**
   * Outbox bounds (defaults: 1 000 000 events, 64 MiB, 7 days) and the policy
   * when an append would exceed them: `'reject'` refuses new events,
   * `'drop-oldest'` (default) deletes the oldest unprocessed ones. Processed
   * events waiting only for the server always go first.
   */
  readonly outbox?: OutboxOptions;
  /** How many windows the view keeps (default 100 000); the windows that ended first go. */
  readonly view?: { readonly maxWindows?: number };
  /** How long IndexedDB `open()` may take before it counts as stalled (default 10 000 ms). */
  readonly openTimeoutMs?: number;
  /**
   * How long an IndexedDB operation may go unanswered (default 15 000 ms).
   * The first silence reopens the connection; a second moves to a fresh
   * database that keeps the client id and numbering (WebKit can leave a
   * database unanswering after a worker dies inside a transaction). Both are
   * reported on `status$` (`errors`, `storage`).
   */
  readonly transactionTimeoutMs?: number;
  /**
   * An event's time for the server log (the wire's `ts`). Default: the
   * pipeline's own event time, the `timestamp` of its first `eventTime`
   * (when that reads the events directly). An event whose time cannot be
   * read (no such `eventTime`, or a timestamp that throws or is not finite)
   * is uploaded with `ts: null` and counted in `status$`'s `upload.untimed`;
   * it is never stamped with another time. The batch layer re-runs the
   * pipeline over the events themselves and never reads `ts`: it is for
   * export and analysis.
   */
  readonly timestamp?: (event: E) => number;
  /**
   * The uploader, once the page gives an endpoint (`createRuntime({ endpoint, token })`):
   * `maxBatchBytes` per request (default 512 KiB); retry backoff with full
   * jitter from `minBackoffMs` to `maxBackoffMs` (defaults 500 and 60 000),
   * and a pause of half to all of `maxBackoffMs` after a wrong token or URL
   * (`docs/protocol.md`); `requestTimeoutMs` (default 30 000); corrections
   * pulled every `correctionsEveryMs` while idle (default 10 000).
   */
  readonly upload?: {
    readonly maxBatchBytes?: number;
    readonly minBackoffMs?: number;
    readonly maxBackoffMs?: number;
    readonly requestTimeoutMs?: number;
    readonly correctionsEveryMs?: number;
  };
}
