/**
 * Forwarding to the upstream Tidemark server: one `POST /v1/ingest` per
 * batch of outbox records, as the client that sent them (its id, its
 * sequence numbers, its token), so the upstream de-duplicates a batch sent
 * twice. The only file of the edge runtime that calls `fetch`. What an
 * answer means is the protocol's client policy (`src/protocol/client.ts`,
 * `docs/protocol.md`), the same as the browser runtime's uploader.
 *
 * @module
 */
import { exchange } from '../protocol/exchange.js';
import { type SigningKey, tokenFor } from '../protocol/tokens.js';
import { PROTOCOL_VERSION } from '../protocol/wire.js';
import { type Clock, systemClock } from '../time/clock.js';
import type { ForwardBatch, ForwardOutcome } from './partition.js';

/** How to reach the upstream server. */
export interface UpstreamOptions {
  /** The server's base URL, e.g. `https://ingest.example.com` (`/v1/ingest` is appended). */
  readonly upstream: string;
  /** The key of the secret the upstream server signs tokens with. */
  readonly key: SigningKey;
  /** Time limit of one request (ms). */
  readonly timeoutMs: number;
  /** The `fetch` to use (default the global one). */
  readonly fetch?: typeof fetch;
  /** Time and timers (default the platform's): the request's time limit, a `Retry-After` date. */
  readonly clock?: Clock;
}

/** Answers a function sending one batch upstream and saying what happened. */
export function upstreamSender(options: UpstreamOptions): (batch: ForwardBatch) => Promise<ForwardOutcome> {
  const url = `${options.upstream.replace(/\/+$/, '')}/v${PROTOCOL_VERSION}/ingest`;
  const doFetch = options.fetch ?? fetch;
  const clock = options.clock ?? systemClock;
  const tokens = new Map<string, string>();
  return async (batch) => {
    let token = tokens.get(batch.clientId);
    if (!token) {
      if (tokens.size >= 10_000) tokens.clear();
      tokens.set(batch.clientId, (token = await tokenFor(options.key, batch.clientId)));
    }
    const answer = await exchange(
      url,
      { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: batch.body },
      { fetch: doFetch, clock, timeoutMs: options.timeoutMs },
    );
    if (answer.decision === 'delivered') return { kind: 'acked' };
    const reason = answer.status === 0 ? `${url}: ${answer.message}` : `${url} answered ${answer.status}: ${answer.message}`;
    // Refused for good (400, 413, 422, …): kept aside, and the outbox goes on.
    if (answer.decision === 'refuse') return { kind: 'refused', status: answer.status, reason };
    // A wrong secret (401) or URL (404) pauses; the partition's next alarm tries
    // again after the pause (a redeploy with the fix starts afresh).
    return answer.retryAfterMs === undefined
      ? { kind: answer.decision, reason }
      : { kind: answer.decision, reason, afterMs: answer.retryAfterMs };
  };
}
