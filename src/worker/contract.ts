/**
 * The contract between the page (`tidemark/browser`) and the runtime's
 * worker (`tidemark/worker`): the one typed interface that crosses the
 * worker boundary (through comlink), and the messages both sides exchange
 * on the origin's BroadcastChannel. Types only; nothing here runs.
 *
 * @module
 */
import type { CheckpointInfo } from '../host/runner.js';
import type { ColumnBatch } from '../operators/event-time-columns.js';
import type { WindowKey, WindowResult } from '../windows/window-result.js';

/** Why events were refused by the outbox. */
export type RefusalReason = 'limit' | 'quota' | 'invalid' | 'storage';

/**
 * What the worker answers for one appended batch: the sequence range it
 * received (durable once this answer arrives), or why it was refused.
 */
export type AppendReceipt =
  | { readonly ok: true; readonly first: number; readonly last: number; readonly duplicate: boolean }
  | { readonly ok: false; readonly refused: number; readonly reason: RefusalReason; readonly message: string };

/**
 * A batch of events stored column by column (typed arrays are cheapest),
 * `length` rows: the core's `ColumnBatch`, e.g.
 * `{ length: 3, ts: Float64Array.of(1, 2, 3), user: Int32Array.of(7, 7, 8) }`.
 */
export type Columns = ColumnBatch;

/**
 * How a batch crosses the worker boundary and is stored: `'json'`, one JSON
 * array string (the default: a string costs almost nothing to post and to
 * store, so the worker thread does two cheap steps instead of two
 * structured clones, 1.3× the throughput in `npm run bench:browser`; events then follow JSON's
 * rules, as they will on the server); `'structured-clone'`, the objects
 * themselves (Dates, Maps and typed arrays survive); `'columns'`, a
 * {@link Columns} batch from `emitColumns`.
 */
export type Encoding = 'json' | 'structured-clone' | 'columns';

/** A batch as it crosses the boundary: a JSON string, objects or columns (see {@link Encoding}). */
export type Payload = string | readonly unknown[] | Columns;

/**
 * The latest pane of one window, as kept in the runtime's view, and where
 * its value comes from: `'speed'`, computed here in real time, or
 * `'batch'`, the server's reconciled value over the complete log (a
 * correction; see `createRuntime`'s `endpoint`).
 */
export type ViewEntry<K extends WindowKey = WindowKey, V = unknown> = WindowResult<K, V> & {
  readonly source: 'speed' | 'batch';
};

/** One error the runtime met, as reported on `status$` (newest last). */
export interface RuntimeIssue {
  readonly name: string;
  readonly message: string;
  /** When it happened (`Date.now()`). */
  readonly at: number;
}

/** The last checkpoint written: its outbox position, time, cost and size. */
export type { CheckpointInfo } from '../host/runner.js';

/**
 * The uploader's state, on `status$`: what it is doing, how far the server
 * acknowledged, what it refused for good, and the last error.
 * `state`: `'disabled'` without an endpoint; `'idle'` with nothing to send;
 * `'uploading'`; `'offline'`; `'backoff'` after a retryable failure (network,
 * 408, 425, 429, 5xx) until `nextAttemptAt`; `'paused'` when the token or the
 * endpoint is wrong (401, 403, 404, 405, 410): it tries again every half to
 * whole `maxBackoffMs`, and a token or endpoint that differs from the refused
 * one resumes it at once (the same one again does not). See `docs/protocol.md`.
 */
export interface UploadStatus {
  readonly state: 'disabled' | 'idle' | 'uploading' | 'offline' | 'backoff' | 'paused';
  /** Every event up to this sequence is durable on the server (or a dead letter). */
  readonly acked: number;
  /** The server's `ackedThrough` in its last answer: below it, it holds everything of this client. */
  readonly serverAckedThrough?: number;
  /** Events the server refused for good (a non-retryable 4xx), kept in the `deadletter` store. */
  readonly deadLetters: number;
  readonly lastDeadLetter: { readonly seq: number; readonly status: number; readonly reason: string; readonly at: number } | null;
  readonly lastError: string | null;
  /** When the next attempt is due (`Date.now()` scale) during a backoff, else `null`. */
  readonly nextAttemptAt: number | null;
  /** The position in the server's corrections feed. */
  readonly correctionsCursor: number;
  /**
   * Events uploaded (since this worker started) whose time the pipeline could
   * not read: sent with `ts: null`, never stamped with another time.
   */
  readonly untimed: number;
}

/**
 * A picture of the runtime: outbox depth, pipeline progress, last
 * checkpoint, state size, connectivity, leadership, drops and errors.
 */
export interface RuntimeStatus {
  /** The persistent client id shared by every tab of this runtime. */
  readonly clientId: string;
  /** `true` when this tab's worker runs the pipeline (exactly one tab does). */
  readonly leader: boolean;
  /** `navigator.onLine` as the worker sees it, and `false` while `setOffline(true)` holds. */
  readonly online: boolean;
  /** Events stored in the outbox (processed or not), their estimated bytes, and records. */
  readonly outbox: { readonly events: number; readonly bytes: number; readonly records: number };
  /** Highest sequence number appended to the outbox (durable). */
  readonly appended: number;
  /** Highest sequence number the pipeline has processed (seen from this tab). */
  readonly processed: number;
  /** The pipeline's current watermark (`-Infinity` before the first event). */
  readonly watermark: number;
  /** The last checkpoint, or `null` before the first one. */
  readonly lastCheckpoint: CheckpointInfo | null;
  /** Windows open in the pipeline and windows held in the view. */
  readonly state: { readonly openWindows: number; readonly viewWindows: number };
  /** Records dropped or sent to a late handler because they were too late. */
  readonly lateRecords: number;
  /** Events deleted unprocessed by the `'drop-oldest'` policy. */
  readonly dropped: number;
  /** Events refused (policy `'reject'`, quota, or not cloneable). */
  readonly refused: number;
  /** Processed events deleted before any server acknowledged them, to respect a limit. */
  readonly expired: number;
  /** `true` once the pipeline failed; events keep being stored, and are processed after a fix and reload. */
  readonly failed: boolean;
  /** The latest errors, newest last (at most 10). */
  readonly errors: readonly RuntimeIssue[];
  /** The uploader (run by the leading tab); `state: 'disabled'` without an endpoint. */
  readonly upload: UploadStatus;
  /** Storage: the database in use, what was done to keep it usable, persistence and the browser's estimate. */
  readonly storage: StorageStatus;
}

/**
 * Storage on `status$`. `reopened`: connections reopened (lost, or a
 * transaction without answer); `moved`: moves to a fresh database because one
 * stopped answering (`database` names the one in use); `vanished`: times the
 * database disappeared (site data cleared, eviction) and was created again.
 * `persisted`: `navigator.storage.persisted()` (`createRuntime({ persist: true })`
 * asks for it), `usage` and `quota` from `navigator.storage.estimate()`;
 * `null` where the engine does not answer.
 */
export interface StorageStatus {
  readonly database: string;
  readonly reopened: number;
  readonly moved: number;
  readonly vanished: number;
  readonly persisted: boolean | null;
  readonly usage: number | null;
  readonly quota: number | null;
}

/**
 * The API the worker exposes to its page (through comlink). Every call is
 * wrapped with a timeout on the page side.
 * @internal
 */
export interface WorkerApi {
  /** Opens storage and starts competing for leadership; answers the client id. */
  start(): Promise<{ clientId: string }>;
  /** Appends one batch durably; `batchId` makes a re-sent batch idempotent. */
  append(batchId: string, payload: Payload, encoding: Encoding, length: number, resent: boolean): Promise<AppendReceipt>;
  /** Resolves once the pipeline (in whichever tab leads) has processed every sequence up to `seq`. */
  processed(seq: number): Promise<void>;
  /** The latest pane of every window fired so far. */
  view(): Promise<ViewEntry[]>;
  /** The current status. */
  status(): Promise<RuntimeStatus>;
  /** Writes a checkpoint now if this worker leads; answers its sequence (or `null` when not leading). */
  checkpoint(): Promise<number | null>;
  /** Sets the server endpoint and this client's token: the leader uploads and pulls corrections. */
  connect(endpoint: string, token: string): Promise<void>;
  /** Holds uploads in every tab (`true`), or follows the browser's connectivity again (`false`). */
  setOffline(offline: boolean): Promise<void>;
  /** Final checkpoint, releases leadership and closes storage. */
  close(): Promise<void>;
}

/**
 * Messages on the runtime's BroadcastChannel (`tidemark:<name>`).
 * @internal
 */
export type ChannelMessage =
  | { readonly type: 'appended'; readonly last: number }
  | { readonly type: 'processed'; readonly through: number; readonly status: LeaderStatus }
  | { readonly type: 'results'; readonly results: readonly unknown[] }
  /** A tab asks the leader to announce its progress. */
  | { readonly type: 'hello' }
  /** A tab asks the leader for its view; the leader answers `view` with the same `id`. */
  | { readonly type: 'view?'; readonly id: string }
  | { readonly type: 'view'; readonly id: string; readonly entries: readonly unknown[] }
  /** The leader received new corrections: views changed. */
  | { readonly type: 'corrections' }
  /** A tab called `setOffline`: every tab holds (or resumes) uploads. */
  | { readonly type: 'offline'; readonly offline: boolean };

/**
 * Messages a worker posts to its own page, beside comlink's replies: the
 * results the leader fires (the leader's worker sends its own; the others
 * forward them from the channel). A direct message is quicker than a
 * BroadcastChannel hop.
 * @internal
 */
export type PageMessage =
  | { readonly type: 'results'; readonly results: readonly unknown[] }
  /** New corrections changed the view. */
  | { readonly type: 'corrections' }
  /** The server refused the token (401, 403): the page may supply a fresh one with `connect` (the same one again changes nothing). */
  | { readonly type: 'token?' }
  /** Uploads are held (or resumed) by `setOffline` in some tab: the page applies it to a replacement worker. */
  | { readonly type: 'offline'; readonly offline: boolean };

/** The part of the status only the leader knows, shared with the other tabs. @internal */
export interface LeaderStatus {
  readonly watermark: number;
  readonly lastCheckpoint: CheckpointInfo | null;
  readonly openWindows: number;
  readonly viewWindows: number;
  readonly lateRecords: number;
  readonly failed: boolean;
  /** Added by the worker that leads (the pipeline host does not upload). */
  readonly upload?: UploadStatus;
}
