/**
 * The wire protocol between a Tidemark client (the uploader in the runtime's
 * worker) and a Tidemark server (`tidemark/server`): paths, bodies, limits
 * and error shapes. Version 1. Types and constants only; validation is in
 * `validate.ts`.
 *
 * @module
 */
import type { WindowKey } from '../windows/window-result.js';

/**
 * The protocol version: the `/v1` in every path. A server answers
 * `404` for a version it does not speak.
 *
 * @example
 * ```ts
 * import { PROTOCOL_VERSION } from 'tidemark/protocol';
 * console.log(`/v${PROTOCOL_VERSION}/ingest`);
 * ```
 */
export const PROTOCOL_VERSION = 1;

/**
 * Paths under the endpoint's base (`https://host/v1`): `POST ingest`,
 * `GET corrections?clientId=…&after=…`.
 *
 * @example
 * ```ts
 * import { PATHS } from 'tidemark/protocol';
 * const url = new URL(PATHS.ingest, 'https://example.com/v1/');
 * console.log(url.href); // https://example.com/v1/ingest
 * ```
 */
export const PATHS = { ingest: 'ingest', corrections: 'corrections', views: 'views', viewsStream: 'views/stream' } as const;

/**
 * Limits both sides respect. A client keeps each request body under
 * `maxBodyBytes` (the server answers `413` above it) and each `pagehide`
 * flush under `keepaliveBytes` (the browser's total for `keepalive`
 * requests). Client ids match `clientIdPattern`: 1–128 characters of
 * `A–Z a–z 0–9 _ -`, safe in a file name and a NATS subject.
 *
 * @example
 * ```ts
 * import { LIMITS } from 'tidemark/protocol';
 * console.log(LIMITS.maxBodyBytes, LIMITS.clientIdPattern.test('../x')); // 4194304 false
 * ```
 */
export const LIMITS = {
  maxBodyBytes: 4 * 1024 * 1024,
  maxEventsPerRequest: 50_000,
  maxResultsPerRequest: 10_000,
  keepaliveBytes: 64 * 1024,
  clientIdPattern: /^[A-Za-z0-9_-]{1,128}$/,
} as const;

/**
 * One event on the wire: the client's sequence number (from 1, strictly
 * increasing within a request), its event time in ms as the client's
 * pipeline reads it (`null` when the pipeline cannot read it: such an event
 * is kept and counted, never stamped with another time), and the event
 * itself as JSON. The batch layer never relies on `ts`: it re-runs the
 * pipeline over `data`; `ts` is for export and analysis.
 */
export interface WireEvent {
  readonly seq: number;
  readonly ts: number | null;
  readonly data: unknown;
}

/**
 * One window's latest result as the client computed it (the speed layer),
 * uploaded so that the batch layer can compare and correct it. With
 * `kind: 'delete'` (a client pipeline emitting a changelog, see
 * `windowBy({ changelog: true })`) it says instead that the window is gone:
 * a session span a later record superseded. `value` and `pane` are then
 * those of the row it takes back. Without `kind` (the default shape) it is
 * a row.
 */
export interface WireResult {
  readonly key: WindowKey;
  readonly start: number;
  readonly end: number;
  readonly value: unknown;
  /** The pane number of this firing (0 for the first). */
  readonly pane: number;
  /** `'delete'`: the window's row is taken back; absent: this is the window's row. */
  readonly kind?: 'delete';
}

/** `POST /v1/ingest` body. `events` may be empty when only results are sent. */
export interface IngestRequest {
  readonly clientId: string;
  readonly events: readonly WireEvent[];
  readonly results?: readonly WireResult[];
  /**
   * The client pipeline's event-time watermark when the request was made
   * (absent before its first event). The batch layer corrects a window of
   * this client only once the window is final for it: see `docs/sync.md`.
   */
  readonly watermark?: number;
}

/**
 * `200` answer to an ingest. `ackedThrough`: every event of this client with
 * a sequence number up to it is durable on the server. Events above it that
 * the server holds (after a gap) are durable too; `gaps` lists the ranges
 * still missing below the highest one received.
 */
export interface IngestResponse {
  readonly ackedThrough: number;
  /** Events of this request appended now. */
  readonly appended: number;
  /** Events of this request the server already held (replays): acknowledged, not appended. */
  readonly duplicates: number;
  /** Missing sequence ranges `[first, last]` of this client, oldest first (at most 16 listed). */
  readonly gaps: readonly (readonly [number, number])[];
}

/**
 * A correction from the batch layer: for one window of this client, the
 * value the client computed (`speed`, `null` if it never uploaded one) and
 * the authoritative `batch` value over the complete log.
 */
export interface Correction {
  /** Position in the server's corrections feed; pass the last one seen as `after`. */
  readonly cursor: number;
  readonly key: WindowKey;
  readonly start: number;
  readonly end: number;
  readonly speed: unknown;
  readonly batch: unknown;
  /** When the reconcile run that produced it started (`Date.now()`). */
  readonly at: number;
}

/** `200` answer to `GET /v1/corrections`: corrections after the cursor, and the cursor to ask from next. */
export interface CorrectionsResponse {
  readonly corrections: readonly Correction[];
  readonly cursor: number;
}

/** Body of every error answer (`400`, `401`, `404`, `405`, `413`, `429`, `500`, `503`). */
export interface ErrorBody {
  readonly error: {
    readonly name: string;
    readonly message: string;
    /** The offending field for a `400`, as a path: `events[3].seq`. */
    readonly field?: string;
  };
}

/**
 * One window of the served view (`GET /v1/views`, `GET /v1/views/stream`,
 * and the edge's `GET /v1/results`): the batch layer's value where it has
 * made the window final, the global speed layer's otherwise.
 */
export interface ViewRow {
  readonly key: WindowKey;
  readonly start: number;
  readonly end: number;
  readonly value: unknown;
  /** `'batch'`: the batch layer's value over the complete log; `'speed'`: the live value. */
  readonly source: 'speed' | 'batch';
  /** `true` once the batch layer made the window final: the row will not change again. */
  readonly final: boolean;
  /** The id of the change that last set the row (the edge: its pane number). */
  readonly version: number;
}

/** `200` answer to `GET /v1/views`: the rows asked for, sorted by key then start, and the id of the last change they reflect. */
export interface ViewsResponse {
  readonly rows: readonly ViewRow[];
  /** Pass it as `Last-Event-ID` to `GET /v1/views/stream` to get every change after these rows. */
  readonly lastEventId: number;
}

/**
 * One change of the served view, as `GET /v1/views/stream` sends it (an SSE
 * `change` event whose `id` is `id`): a row set or a row deleted.
 */
export type ViewChange =
  | { readonly id: number; readonly op: 'upsert'; readonly row: ViewRow }
  | {
      readonly id: number;
      readonly op: 'delete';
      readonly row: { readonly key: WindowKey; readonly start: number; readonly end: number };
    };

/**
 * The SSE `reset` event of `GET /v1/views/stream`: the whole view (within the
 * stream's filter) as of change `lastEventId`. Sent first to a new
 * subscriber, and to one whose `Last-Event-ID` is older than the changes the
 * server keeps (or unknown to it); a subscriber replaces its rows with these.
 */
export interface ViewReset {
  readonly lastEventId: number;
  readonly rows: readonly ViewRow[];
}
