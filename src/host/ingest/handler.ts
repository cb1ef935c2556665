/**
 * The ingest server as one standard `(Request) => Promise<Response>`
 * function: `POST /v1/ingest`, `GET /v1/corrections`, `GET /metrics`. No
 * Node API here, so the same handler runs behind the Node adapter, in a
 * service worker or on an edge runtime.
 *
 * @module
 */
import { BatchRunningError, errorParts, InvalidOptionError, ProtocolError, StorageError } from '../../errors.js';
import { requireNonNegative, requireObject, requirePositive, requirePositiveInteger } from '../../options.js';
import { parseIngest, parseLastEventId, parseViewQuery, requireClientId } from '../../protocol/validate.js';
import type { CorrectionsResponse, ErrorBody, IngestResponse, ViewsResponse, WireResult } from '../../protocol/wire.js';
import { LIMITS, PROTOCOL_VERSION } from '../../protocol/wire.js';
import {
  adminTokenProblem,
  isReaderToken,
  readerTokenProblem,
  type Secret,
  signingKey,
  tokenProblem,
} from '../../protocol/tokens.js';
import type { ViewFilter } from '../serving-view.js';
import type { EventLog } from './log.js';
import { createMetrics } from './metrics.js';

/** Where uploaded speed-layer results go (a `ResultStore`). */
export interface ResultSink {
  put(clientId: string, results: readonly WireResult[], receivedAt: number, watermark?: number): Promise<void>;
}

/** Where corrections are read from (a `CorrectionStore`). */
export interface CorrectionSource {
  since(clientId: string, after: number, limit?: number): CorrectionsResponse | Promise<CorrectionsResponse>;
  /** Called before each `since`: a store shared with other processes reads what they wrote (`fileCorrections` does). */
  refresh?(): Promise<void>;
}

/** Options of {@link createHandler}. */
export interface HandlerOptions {
  /** The log events are appended to. */
  readonly log: EventLog;
  /** The secret client tokens are signed with (see `tokenFor`); at least 16 bytes. */
  readonly secret: Secret;
  /** Stores the clients' uploaded results; without it, `results` in a request are accepted and ignored. */
  readonly results?: ResultSink;
  /** Serves corrections; without it, `GET /v1/corrections` answers an empty list. */
  readonly corrections?: CorrectionSource;
  /** Largest request body in bytes (default 4 MiB, the protocol's limit); `413` above it. */
  readonly maxBodyBytes?: number;
  /**
   * Per-client rate: a bucket of `burst` events refilled at `eventsPerSecond`
   * (defaults 100 000 and 1 000 000); a request costs its events (at least 1).
   * Over it: `429` with `Retry-After`. `false` turns it off.
   */
  readonly rate?: { readonly eventsPerSecond?: number; readonly burst?: number } | false;
  /** `Access-Control-Allow-Origin` for browsers (default `'*'`: tokens travel in a header, not in cookies). */
  readonly allowOrigin?: string;
  /** The clock (default `Date.now`), for `receivedAt` and the rate limit. */
  readonly now?: () => number;
  /**
   * Starts a batch run and resolves with its report (JSON), for
   * `POST /v1/reconcile` with the admin token (`adminTokenFor`); without it,
   * that route answers `404`. `tidemark serve --pipeline` passes its batch layer.
   */
  readonly reconcile?: () => Promise<unknown>;
  /**
   * The served view across clients, for `GET /v1/views` and
   * `GET /v1/views/stream` (a reader token, `readerTokenFor`, or the admin
   * token); without it, those routes answer `404`. `tidemark serve
   * --pipeline` passes its global speed layer.
   */
  readonly views?: ViewsSource;
  /**
   * Lets a client token read the served view too (with `?clientId=` naming
   * its client). Default `false`: the view across all clients is for
   * readers, and a client's token reads only its own corrections.
   */
  readonly clientsMayReadViews?: boolean;
  /** Concurrent `GET /v1/views/stream` per reader (by token name, or client id) before `429` (default 8). */
  readonly maxStreamsPerReader?: number;
  /** More Prometheus text appended to `GET /metrics` (the global speed layer's). */
  readonly metrics?: () => string;
}

/** What serves the view: rows now, and a Server-Sent Events stream of changes (see `globalSpeedLayer`). */
export interface ViewsSource {
  rows(filter: ViewFilter): ViewsResponse;
  stream(after: number | undefined, filter: ViewFilter, onClose?: () => void): ReadableStream<Uint8Array>;
}

/** The handler: a standard fetch handler, plus its metrics. */
export interface Handler {
  (request: Request): Promise<Response>;
  /** The Prometheus text `GET /metrics` answers. */
  metrics(): string;
}

/**
 * Creates the ingest server's handler. Every request is checked whole
 * before anything is appended: a refused request appends nothing.
 *
 * | Request | Answer |
 * | --- | --- |
 * | `POST /v1/ingest` | `200 {ackedThrough, appended, duplicates, gaps}`; `400` naming the field; `401`; `413`; `429` + `Retry-After`; `503` + `Retry-After` when the log fails |
 * | `GET /v1/corrections?clientId=…&after=…` | `200 {corrections, cursor}` |
 * | `POST /v1/reconcile` (admin token) | `200` the run's report, once it ended; `401`; `404` without `reconcile`; `409` while another process runs one |
 * | `GET /metrics` | Prometheus text |
 *
 * @example
 * ```ts
 * import { createHandler, memoryLog, tokenFor } from 'tidemark/server';
 * const secret = 'a secret of at least 16 bytes';
 * const handler = await createHandler({ log: memoryLog(), secret });
 * const res = await handler(new Request('http://localhost/v1/ingest', {
 *   method: 'POST',
 *   headers: { authorization: `Bearer ${await tokenFor(secret, 'c1')}` },
 *   body: JSON.stringify({ clientId: 'c1', events: [{ seq: 1, ts: 0, data: { page: '/' } }] }),
 * }));
 * console.log(res.status, await res.json()); // 200 { ackedThrough: 1, appended: 1, duplicates: 0, gaps: [] }
 * ```
 */
export async function createHandler(options: HandlerOptions): Promise<Handler> {
  requireObject('createHandler', options);
  if (typeof options.log?.append !== 'function')
    throw new InvalidOptionError('createHandler.log', 'expected an EventLog, e.g. `await fileLog(dir)` or `memoryLog()`');
  const maxBody = options.maxBodyBytes ?? LIMITS.maxBodyBytes;
  requirePositiveInteger('createHandler.maxBodyBytes', maxBody);
  const rate = options.rate === false ? undefined : { eventsPerSecond: 100_000, burst: 1_000_000, ...options.rate };
  if (rate) {
    requirePositive('createHandler.rate.eventsPerSecond', rate.eventsPerSecond, 'events per second');
    requireNonNegative('createHandler.rate.burst', rate.burst, 'events');
  }
  if (options.reconcile !== undefined && typeof options.reconcile !== 'function')
    throw new InvalidOptionError('createHandler.reconcile', 'expected a function that runs the batch layer, or omit it');
  const key = await signingKey(options.secret);
  const now = options.now ?? Date.now;
  const { log, results, corrections } = options;
  const cors = {
    'access-control-allow-origin': options.allowOrigin ?? '*',
    'access-control-expose-headers': 'retry-after',
  };
  const metrics = createMetrics(log);
  const maxStreams = options.maxStreamsPerReader ?? 8;
  requirePositiveInteger('createHandler.maxStreamsPerReader', maxStreams);
  const streams = new Map<string, number>();
  const buckets = new Map<string, { tokens: number; at: number }>();
  const prefix = `/v${PROTOCOL_VERSION}/`;

  const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...cors, ...headers } });

  const fail = (err: unknown): Response => {
    if (err instanceof ProtocolError) {
      const body: ErrorBody = { error: { name: err.name, message: err.message, ...(err.field ? { field: err.field } : {}) } };
      return json(err.status, body, err instanceof RateLimited ? { 'retry-after': String(err.retryAfter) } : {});
    }
    const { name, message } = errorParts(err);
    if (err instanceof StorageError) return json(503, { error: { name, message } }, { 'retry-after': '1' });
    return json(500, { error: { name, message } });
  };

  /** Checks `token` (see {@link bearer}) against `clientId`. */
  async function authorize(token: string, clientId: string): Promise<void> {
    const problem = await tokenProblem(key, clientId, token);
    if (problem !== undefined) throw new ProtocolError(401, problem);
  }

  function admit(clientId: string, cost: number): void {
    if (!rate) return;
    const t = now();
    let b = buckets.get(clientId);
    if (!b) {
      if (buckets.size >= 100_000) buckets.clear(); // bounded memory: a forgotten bucket is a full one
      buckets.set(clientId, (b = { tokens: rate.burst, at: t }));
    }
    b.tokens = Math.min(rate.burst, b.tokens + ((t - b.at) / 1000) * rate.eventsPerSecond);
    b.at = t;
    if (b.tokens < cost) {
      const wait = Math.ceil((cost - b.tokens) / rate.eventsPerSecond);
      throw new RateLimited(rate.eventsPerSecond, Math.max(1, wait));
    }
    b.tokens -= cost;
  }

  /** Who may read the view: a reader (by name), the admin, or a client when the server allows it. */
  async function reader(request: Request, url: URL): Promise<string> {
    const token = bearer(request);
    if (isReaderToken(token)) {
      const r = await readerTokenProblem(key, token);
      if ('problem' in r) throw new ProtocolError(401, r.problem);
      return `reader:${r.name}`;
    }
    if ((await adminTokenProblem(key, token)) === undefined) return 'admin';
    const clientId = url.searchParams.get('clientId');
    if (clientId === null)
      throw new ProtocolError(
        401,
        'the view across clients needs a reader token: print one with `npx tidemark token --reader <name>` ' +
          '(a client token reads it only where the server allows it, with ?clientId=)',
      );
    await authorize(token, requireClientId(clientId));
    if (!options.clientsMayReadViews)
      throw new ProtocolError(
        403,
        "a client token cannot read the view across all clients on this server: use a reader token (`npx tidemark token --reader <name>`), or start the server with --views-for-clients",
      );
    return `client:${clientId}`;
  }

  async function readViews(request: Request, url: URL): Promise<Response> {
    if (!options.views) throw new ProtocolError(404, 'this server serves no view: start it with --pipeline ./pipeline.js (tidemark serve)');
    await reader(request, url);
    return json(200, options.views.rows(parseViewQuery(url.searchParams)));
  }

  async function streamViews(request: Request, url: URL): Promise<Response> {
    if (!options.views) throw new ProtocolError(404, 'this server serves no view: start it with --pipeline ./pipeline.js (tidemark serve)');
    const who = await reader(request, url);
    const filter = parseViewQuery(url.searchParams);
    const after = parseLastEventId(request.headers.get('last-event-id') ?? url.searchParams.get('lastEventId'));
    const open = streams.get(who) ?? 0;
    if (open >= maxStreams)
      throw new ProtocolError(429, `${who} has ${open} view streams open, the most this server allows; close one (or share one stream per page)`);
    streams.set(who, open + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const n = (streams.get(who) ?? 1) - 1;
      if (n <= 0) streams.delete(who);
      else streams.set(who, n);
    };
    const body = options.views.stream(after, filter, release);
    request.signal?.addEventListener('abort', () => void body.cancel().catch(() => undefined), { once: true });
    return new Response(body, {
      status: 200,
      headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store', ...cors },
    });
  }

  async function ingest(request: Request): Promise<Response> {
    const token = bearer(request); // before reading the body: no token, no work
    if (isReaderToken(token)) throw new ProtocolError(403, 'a reader token reads views and cannot ingest: send events with the client\'s own token (`npx tidemark token <clientId>`)');
    const text = await readBody(request, maxBody);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (e) {
      throw new ProtocolError(400, `malformed JSON (${errorParts(e).message})`, 'body');
    }
    const clientId = requireClientId((body as { clientId?: unknown } | null)?.clientId);
    await authorize(token, clientId);
    const req = parseIngest(body);
    admit(clientId, Math.max(1, req.events.length));
    const receivedAt = now();
    const out = await log.append(clientId, req.events, receivedAt);
    if (results && ((req.results && req.results.length > 0) || req.watermark !== undefined))
      await results.put(clientId, req.results ?? [], receivedAt, req.watermark);
    metrics.ingested(clientId, req.events, out, receivedAt);
    const answer: IngestResponse = out;
    return json(200, answer);
  }

  async function listCorrections(request: Request, url: URL): Promise<Response> {
    const clientId = requireClientId(url.searchParams.get('clientId') ?? undefined);
    await authorize(bearer(request), clientId);
    const afterText = url.searchParams.get('after') ?? '0';
    const after = Number(afterText);
    if (!Number.isSafeInteger(after) || after < 0)
      throw new ProtocolError(400, 'must be a whole number >= 0 (the cursor of the last correction seen)', 'after');
    const limitText = url.searchParams.get('limit') ?? '1000';
    const limit = Number(limitText);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000)
      throw new ProtocolError(400, 'must be a whole number from 1 to 10000', 'limit');
    await corrections?.refresh?.();
    const answer = corrections ? await corrections.since(clientId, after, limit) : { corrections: [], cursor: after };
    return json(200, answer);
  }

  async function runBatch(request: Request): Promise<Response> {
    const problem = await adminTokenProblem(key, bearer(request));
    if (problem !== undefined) throw new ProtocolError(401, problem);
    if (!options.reconcile)
      throw new ProtocolError(404, 'this server runs no batch layer: start it with --pipeline ./pipeline.js (tidemark serve)');
    try {
      return json(200, await options.reconcile());
    } catch (err) {
      if (err instanceof BatchRunningError) throw new ProtocolError(409, err.message);
      throw err;
    }
  }

  const handler = async (request: Request): Promise<Response> => {
    const url = new URL(request.url);
    const route = `${request.method} ${url.pathname}`;
    try {
      if (request.method === 'OPTIONS')
        return new Response(null, {
          status: 204,
          headers: {
            ...cors,
            'access-control-allow-methods': 'GET, POST',
            'access-control-allow-headers': 'authorization, content-type, last-event-id',
            'access-control-max-age': '86400',
          },
        });
      let res: Response;
      if (route === `POST ${prefix}ingest`) res = await ingest(request);
      else if (route === `GET ${prefix}corrections`) res = await listCorrections(request, url);
      else if (route === `POST ${prefix}reconcile`) res = await runBatch(request);
      else if (route === `GET ${prefix}views`) res = await readViews(request, url);
      else if (route === `GET ${prefix}views/stream`) res = await streamViews(request, url);
      else if (route === 'GET /metrics')
        res = new Response(metrics.text() + (options.metrics?.() ?? ''), {
          headers: { 'content-type': 'text/plain; version=0.0.4', ...cors },
        });
      else if (
        [`${prefix}ingest`, `${prefix}corrections`, `${prefix}reconcile`, `${prefix}views`, `${prefix}views/stream`, '/metrics'].includes(
          url.pathname,
        )
      )
        throw new ProtocolError(405, `${request.method} is not allowed on ${url.pathname}`);
      else
        throw new ProtocolError(
          404,
          `no route ${url.pathname}; this server speaks ${prefix}ingest, ${prefix}corrections, ${prefix}views and ${prefix}views/stream`,
        );
      metrics.answered(res.status);
      return res;
    } catch (err) {
      const res = fail(err);
      metrics.answered(res.status);
      return res;
    }
  };
  return Object.assign(handler, { metrics: () => metrics.text() });
}

/** A `429`: over the client's rate, with the seconds to wait. */
class RateLimited extends ProtocolError {
  constructor(
    eventsPerSecond: number,
    readonly retryAfter: number,
  ) {
    super(429, `over this client's rate of ${eventsPerSecond} events/s; retry later`);
  }
}

/** The request's bearer token, or a `401` saying how to get one. */
function bearer(request: Request): string {
  const header = request.headers.get('authorization') ?? '';
  const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
  if (!token) throw new ProtocolError(401, 'missing `Authorization: Bearer <token>`; get a token with `npx tidemark token <clientId>`');
  return token;
}

/** Reads the body as text, refusing (413) past `max` bytes without reading the rest. */
async function readBody(request: Request, max: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > max) throw new ProtocolError(413, `the body is ${declared} bytes; the limit is ${max}: send smaller batches`);
  if (!request.body) return '';
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      void reader.cancel();
      throw new ProtocolError(413, `the body is over the limit of ${max} bytes: send smaller batches`);
    }
    chunks.push(value);
  }
  const all = chunks.length === 1 ? chunks[0]! : concat(chunks, size);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(all);
  } catch {
    throw new ProtocolError(400, 'the body is not valid UTF-8', 'body');
  }
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
