/**
 * The client side of the protocol, once: how a client builds an ingest body,
 * reads an answer, and decides what to do next. The browser runtime's
 * uploader and the edge's forwarder both use it, so they cannot drift apart;
 * a third-party client that follows it behaves as they do. The policy, in
 * full, with the reasons for it: `docs/protocol.md`.
 *
 * | Answer | {@link Decision} | What the client does |
 * | --- | --- | --- |
 * | `2xx` | `delivered` | moves its acknowledged position (a `2xx` whose body is not JSON did not come from Tidemark: `retry`) |
 * | none (network error, timeout): status `0`; `408`, `425`, `429`, every `5xx` | `retry` | waits {@link backoffDelay} (exponential, full jitter), never less than `Retry-After` |
 * | `401`, `403` | `pause` | the token: asks for a new one ({@link wantsNewToken}) and waits; only a *different* token or endpoint ends the wait early |
 * | `404`, `405`, `410` | `pause` | the endpoint (a wrong URL, a server without this protocol version): waits; a different endpoint ends the wait early |
 * | any other `4xx` (`400`, `413`, `422`, …) | `refuse` | the request's content: never sent again as it is (the uploader halves it down to the one event to blame and keeps that as a dead letter; the edge keeps the batch aside) |
 * | anything else (`1xx`, `3xx`, not a status) | `pause` | an answer the protocol does not define: nothing is lost over it, and nothing is hurried |
 *
 * @module
 */
import { errorParts } from '../errors.js';
import { parseHttpDate } from './http-date.js';
import type { WireEvent } from './wire.js';

/**
 * What a client does after an answer: `delivered` (the request is durable on
 * the server), `retry` (the same request later, after a backoff), `pause`
 * (the configuration is wrong: wait long, ask for a new token after
 * `401`/`403`, never drop anything) or `refuse` (this content will never be
 * taken: set it aside and go on).
 */
export type Decision = 'delivered' | 'retry' | 'pause' | 'refuse';

/**
 * The {@link Decision} for an HTTP status; `0` stands for no answer at all
 * (a network error, a timeout, an abort). The table is in this module's
 * documentation and in `docs/protocol.md`.
 *
 * @example
 * ```ts
 * import { classifyStatus } from 'tidemark/protocol';
 * console.log(classifyStatus(503), classifyStatus(401), classifyStatus(422)); // retry pause refuse
 * ```
 */
export function classifyStatus(status: number): Decision {
  if (status >= 200 && status <= 299) return 'delivered';
  if (status === 0 || status === 408 || status === 425 || status === 429 || (status >= 500 && status <= 599)) return 'retry';
  if (status === 401 || status === 403 || status === 404 || status === 405 || status === 410) return 'pause';
  if (status >= 400 && status <= 499) return 'refuse';
  return 'pause';
}

/**
 * Whether a status refuses the token (`401`, `403`): the client asks for a
 * new one, and a new token ends the pause only if it differs from the one
 * refused.
 *
 * @example
 * ```ts
 * import { wantsNewToken } from 'tidemark/protocol';
 * console.log(wantsNewToken(401), wantsNewToken(404)); // true false
 * ```
 */
export function wantsNewToken(status: number): boolean {
  return status === 401 || status === 403;
}

/**
 * The longest wait a `Retry-After` can impose (one hour): a server, a proxy
 * or a typo asking for a day does not park a client for a day.
 *
 * @example
 * ```ts
 * import { RETRY_AFTER_CAP_MS, parseRetryAfter } from 'tidemark/protocol';
 * console.log(parseRetryAfter('86400', 0) === RETRY_AFTER_CAP_MS); // true
 * ```
 */
export const RETRY_AFTER_CAP_MS = 3_600_000;

/**
 * A `Retry-After` header in milliseconds from `now`: delta-seconds (digits
 * only, as RFC 9110 writes them) or an HTTP date in any of its three
 * formats; a date in the past is `0`. `undefined` when the header is absent
 * or malformed (`1.5`, `-1`, `soon`): the backoff alone decides then. Capped
 * at `capMs` ({@link RETRY_AFTER_CAP_MS}).
 *
 * @param now - the time the answer arrived (ms since the epoch), from the
 *   client's clock, so that tests run in virtual time
 * @example
 * ```ts
 * import { parseRetryAfter } from 'tidemark/protocol';
 * const now = Date.UTC(2025, 0, 1);
 * console.log(parseRetryAfter('7', now)); // 7000
 * console.log(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now)); // 30000
 * console.log(parseRetryAfter('soon', now)); // undefined
 * ```
 */
export function parseRetryAfter(header: string | null | undefined, now: number, capMs = RETRY_AFTER_CAP_MS): number | undefined {
  if (header == null) return undefined;
  const text = header.trim();
  const at = /^\d+$/.test(text) ? now + Number(text) * 1000 : parseHttpDate(text, now);
  return at === undefined ? undefined : Math.min(capMs, Math.max(0, at - now));
}

/** The bounds of a client's backoff (the uploader's `upload` settings, the edge's `forward` option). */
export interface BackoffPolicy {
  /** The ceiling of the first retry's wait, doubled on each failure in a row (ms). */
  readonly minBackoffMs: number;
  /** The largest ceiling (ms); a pause waits between half of it and all of it. */
  readonly maxBackoffMs: number;
}

/**
 * How long to wait before the next attempt (ms). After `retry`: full jitter,
 * a uniform random wait in `[0, min(maxBackoffMs, minBackoffMs · 2^attempt)]`,
 * so clients that failed together do not come back together. After `pause`:
 * between `maxBackoffMs / 2` and `maxBackoffMs`, so a wrong token or URL
 * costs at most two requests per `maxBackoffMs` (the wait is there for a
 * human fix, not a recovering server). Never less than `retryAfterMs`.
 *
 * @param attempt - failures in a row before this one (`0` after the first)
 * @param random - a uniform random number in `[0, 1)` (`Math.random`, or a
 *   seeded one in tests)
 * @example
 * ```ts
 * import { backoffDelay } from 'tidemark/protocol';
 * const policy = { minBackoffMs: 500, maxBackoffMs: 60_000 };
 * console.log(backoffDelay('retry', 3, policy, () => 0.5)); // 2000: half of 500 · 2³
 * console.log(backoffDelay('retry', 0, policy, () => 0.5, 7_000)); // 7000: Retry-After wins
 * console.log(backoffDelay('pause', 0, policy, () => 0)); // 30000
 * ```
 */
export function backoffDelay(
  decision: 'retry' | 'pause',
  attempt: number,
  policy: BackoffPolicy,
  random: () => number = Math.random,
  retryAfterMs = 0,
): number {
  const { minBackoffMs, maxBackoffMs } = policy;
  const ceiling = decision === 'pause' ? maxBackoffMs : Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(attempt, 52));
  const floor = decision === 'pause' ? maxBackoffMs / 2 : 0;
  return Math.max(retryAfterMs, floor + random() * (ceiling - floor));
}

/**
 * Serialises events for an {@link IngestBody}: each `JSON.stringify`'d once,
 * joined by commas. A body is assembled from these parts and never parsed
 * again on the client.
 *
 * @example
 * ```ts
 * import { encodeEvents } from 'tidemark/protocol';
 * console.log(encodeEvents([{ seq: 1, ts: 5, data: 'a' }])); // {"seq":1,"ts":5,"data":"a"}
 * ```
 */
export function encodeEvents(events: readonly WireEvent[]): string {
  return JSON.stringify(events).slice(1, -1);
}

/**
 * A `POST /v1/ingest` body under construction, from parts made by
 * {@link encodeEvents}, with its exact length at every step, so a client
 * fills a request up to a budget without serialising twice. Lengths are in
 * characters (UTF-16 code units); the server's limit
 * (`LIMITS.maxBodyBytes`) is in UTF-8 bytes, up to three per character: keep
 * the budget at a third of it or less.
 *
 * @example
 * ```ts
 * import { IngestBody, encodeEvents } from 'tidemark/protocol';
 * const body = new IngestBody('c1');
 * const part = encodeEvents([{ seq: 1, ts: 5, data: { page: '/' } }]);
 * if (body.lengthWith(part) <= 512 * 1024) body.add(part, 1);
 * const text = body.encode(JSON.stringify([{ key: '/', start: 0, end: 60_000, value: 1, pane: 0 }]));
 * console.log(JSON.parse(text).events.length, body.events); // 1 1
 * ```
 */
export class IngestBody {
  private readonly head: string;
  private readonly parts: string[] = [];
  private chars: number;
  private count = 0;

  constructor(readonly clientId: string) {
    this.head = `{"clientId":${JSON.stringify(clientId)},"events":[`;
    this.chars = this.head.length + 2; // `]}`
  }

  /** The body's length now, without results (characters). */
  get length(): number {
    return this.chars;
  }

  /** Events added so far (as counted by {@link IngestBody.add}). */
  get events(): number {
    return this.count;
  }

  /** The body's length once `part` is added (characters). */
  lengthWith(part: string): number {
    return this.chars + part.length + (this.parts.length > 0 ? 1 : 0);
  }

  /** The body's length once `results` (a JSON array, as for {@link IngestBody.encode}) rides along. */
  lengthWithResults(results: string): number {
    return this.chars + RESULTS.length + results.length;
  }

  /** Appends a part from {@link encodeEvents} holding `events` events. */
  add(part: string, events: number): void {
    this.chars = this.lengthWith(part);
    this.parts.push(part);
    this.count += events;
  }

  /**
   * The body: `{"clientId":…,"events":[…]}`, with `"results"` when `results`
   * (a JSON array of `WireResult`) is given, and `"watermark"` when
   * `watermark` is a finite number (at most 36 more characters than the lengths above count).
   */
  encode(results?: string, watermark?: number): string {
    const mark = watermark !== undefined && Number.isFinite(watermark) ? `,"watermark":${watermark}` : '';
    return `${this.head}${this.parts.join(',')}]${results ? `${RESULTS}${results}` : ''}${mark}}`;
  }
}

const RESULTS = ',"results":';

/** A server's answer as a client acts on it (see {@link readAnswer}). */
export interface Answer {
  /** The HTTP status; `0` when there was no answer (network error, timeout, abort). */
  readonly status: number;
  readonly decision: Decision;
  /** The server's error message (`error.message` of its JSON body), or the status text and the body's start, or the network error. `''` when delivered. */
  readonly message: string;
  /** From `Retry-After`, when the answer had a valid one ({@link parseRetryAfter}). */
  readonly retryAfterMs?: number;
  /** The parsed JSON body of a `2xx` (`null` if empty). */
  readonly body?: unknown;
}

/**
 * Reads a `fetch` response into an {@link Answer}: the body in full (a body
 * cut off is no answer: `retry`), the decision for its status, the message
 * and `Retry-After`.
 *
 * @param now - when the answer arrived, for a `Retry-After` date
 * @example
 * ```ts
 * import { readAnswer } from 'tidemark/protocol';
 * const answer = await readAnswer(new Response('{"error":{"name":"ProtocolError","message":"busy"}}', {
 *   status: 503, headers: { 'retry-after': '3' } }), Date.now());
 * console.log(answer.decision, answer.message, answer.retryAfterMs); // retry busy 3000
 * ```
 */
export async function readAnswer(response: Response, now: number): Promise<Answer> {
  let text: string;
  try {
    text = await response.text();
  } catch (err) {
    return noAnswer(err);
  }
  const { status } = response;
  const decision = classifyStatus(status);
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), now);
  const after = retryAfterMs === undefined ? {} : { retryAfterMs };
  if (decision === 'delivered') {
    try {
      return { status, decision, message: '', body: text ? (JSON.parse(text) as unknown) : null };
    } catch {
      // A captive portal or a proxy answered, not Tidemark: nothing is known to be durable.
      return { status, decision: 'retry', message: `the answer is not JSON, so not Tidemark's (a proxy or a captive portal?): ${snippet(text)}`, ...after };
    }
  }
  let message = '';
  try {
    message = String((JSON.parse(text) as { error: { message: unknown } }).error.message ?? '');
  } catch {
    // Not a Tidemark error body (a proxy's page): the status line and the body's start.
  }
  message ||= [response.statusText, snippet(text)].filter(Boolean).join(': ') || 'no message';
  return { status, decision, message, ...after };
}

/**
 * The {@link Answer} for a request that got none (`fetch` threw: a network
 * error, a timeout, an abort): status `0`, `retry`.
 *
 * @example
 * ```ts
 * import { noAnswer } from 'tidemark/protocol';
 * console.log(noAnswer(new TypeError('Failed to fetch')).message); // TypeError: Failed to fetch
 * ```
 */
export function noAnswer(error: unknown): Answer {
  const { name, message } = errorParts(error);
  return { status: 0, decision: 'retry', message: `${name}: ${message}` };
}

function snippet(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}
