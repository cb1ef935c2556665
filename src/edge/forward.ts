/**
 * Forwarding to the upstream Tidemark server: one `POST /v1/ingest` per
 * batch of outbox records, as the client that sent them (its id, its
 * sequence numbers, its token), so the upstream de-duplicates a batch sent
 * twice. The only
 * file of the edge runtime that calls `fetch`.
 *
 * @module
 */
import { errorParts } from '../errors.js';
import { PROTOCOL_VERSION } from '../protocol/wire.js';
import { type SigningKey, tokenFor } from '../protocol/tokens.js';
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
}

/** Answers a function sending one batch upstream and saying what happened. */
export function upstreamSender(options: UpstreamOptions): (batch: ForwardBatch) => Promise<ForwardOutcome> {
  const url = `${options.upstream.replace(/\/+$/, '')}/v${PROTOCOL_VERSION}/ingest`;
  const doFetch = options.fetch ?? fetch;
  const tokens = new Map<string, string>();
  return async (batch) => {
    let token = tokens.get(batch.clientId);
    if (!token) {
      if (tokens.size >= 10_000) tokens.clear();
      tokens.set(batch.clientId, (token = await tokenFor(options.key, batch.clientId)));
    }
    let res: Response;
    try {
      res = await doFetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: batch.body,
        signal: AbortSignal.timeout(options.timeoutMs),
      });
    } catch (e) {
      return { kind: 'retry', reason: `${url}: ${errorParts(e).message}` };
    }
    const text = await res.text().catch(() => '');
    if (res.ok) return { kind: 'acked' };
    const reason = `${url} answered ${res.status}: ${text.slice(0, 300)}`;
    // 400 and 413 say this batch will never be taken: keep it aside and go
    // on. Anything else (401 from a wrong secret, 404 from a wrong URL,
    // 429, 5xx) can be fixed or passes: keep the batch and retry.
    if (res.status === 400 || res.status === 413) return { kind: 'refused', status: res.status, reason };
    const after = Number(res.headers.get('retry-after'));
    return Number.isFinite(after) && after > 0 ? { kind: 'retry', reason, afterMs: after * 1000 } : { kind: 'retry', reason };
  };
}
