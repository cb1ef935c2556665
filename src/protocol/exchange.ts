/**
 * One request of a protocol client, with its time limit on the client's
 * clock, read into an {@link Answer} that carries the policy's decision
 * (`client.ts`). `fetch` is passed in: the caller stays the one file of its
 * host that touches the network.
 *
 * @module
 */
import { errorParts } from '../errors.js';
import type { Clock } from '../time/clock.js';
import { classifyStatus, type Decision, parseRetryAfter } from './client.js';

/** How {@link exchange} sends. */
export interface ExchangeOptions {
  /** The `fetch` to call (the platform's, or a stub in tests). */
  readonly fetch: typeof fetch;
  /** Whose time runs the time limit and dates a `Retry-After` (`systemClock` from `tidemark`, or a virtual one). */
  readonly clock: Clock;
  /** No answer (body included) within this many ms: the request is aborted, and the answer is a `TimeoutError` with status `0`. */
  readonly timeoutMs: number;
  /** Aborts the request early (e.g. when the network goes away). */
  readonly signal?: AbortSignal;
}

/**
 * Sends one request and reads the answer in full, never throwing: a network
 * error, a timeout or an abort is an {@link Answer} with status `0` and
 * decision `retry` ({@link noAnswer}); anything else is {@link readAnswer}'s.
 *
 * @example
 * ```ts
 * import { exchange, classifyStatus } from 'tidemark/protocol';
 * import { systemClock } from 'tidemark';
 * const answer = await exchange('https://example.com/v1/ingest', {
 *   method: 'POST',
 *   headers: { authorization: 'Bearer …', 'content-type': 'application/json' },
 *   body: '{"clientId":"c1","events":[{"seq":1,"ts":0,"data":{}}]}',
 * }, { fetch, clock: systemClock, timeoutMs: 10_000 });
 * if (answer.decision === 'retry') console.log('try again later', answer.retryAfterMs, classifyStatus(answer.status));
 * ```
 */
export async function exchange(url: string | URL, init: Omit<RequestInit, 'signal'>, options: ExchangeOptions): Promise<Answer> {
  // Called unbound: the platform's fetch throws "Illegal invocation" when called as a method of another object.
  const { clock, timeoutMs, fetch: send } = options;
  const limit = new AbortController();
  const cancel = clock.timeout(() => limit.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
  try {
    const signal = options.signal ? AbortSignal.any([options.signal, limit.signal]) : limit.signal;
    return await readAnswer(await send(url, { ...init, signal }), clock.now());
  } catch (err) {
    return noAnswer(err);
  } finally {
    cancel();
  }
}

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
