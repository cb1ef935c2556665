/**
 * One request of a protocol client, with its time limit on the client's
 * clock, read into an {@link Answer}. `fetch` is passed in: the caller stays
 * the one file of its host that touches the network.
 *
 * @module
 */
import type { Clock } from '../time/clock.js';
import { type Answer, noAnswer, readAnswer } from './client.js';

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
