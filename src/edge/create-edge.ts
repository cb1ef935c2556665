/**
 * `createEdge`: the edge worker's fetch entry and its Durable Object class,
 * from a pipeline. Ingest is the server's own handler (`createHandler`)
 * over an `EventLog` that routes each client's batch to its partition's
 * Durable Object, so statuses, messages and token checks are the server's.
 *
 * @module
 */
import { describe, errorParts, InvalidOptionError, ProtocolError, StorageError } from '../errors.js';
import { requireFunction, requireObject, requirePositive, requirePositiveInteger, rejectUnknown } from '../options.js';
import type { ErrorBody, WireEvent } from '../protocol/wire.js';
import { PROTOCOL_VERSION } from '../protocol/wire.js';
import { signingKey, verifyToken } from '../protocol/tokens.js';
import { parseViewQuery } from '../protocol/validate.js';
import { matches } from '../host/serving-view.js';
import { createHandler, type Handler, type HandlerOptions } from '../host/ingest/handler.js';
import type { AppendOutcome, EventLog } from '../host/ingest/log.js';
import type { BatchPipeline } from '../host/pipeline-session.js';
import { configured, type DurableObjectStateLike, type EdgeEnv, type PartitionObject, partitionClass } from './edge-partition.js';
import type { PartitionResults } from './partition.js';
import { partitionOf } from '../protocol/partition.js';

/** Options of {@link createEdge}. */
export interface EdgeOptions<E = any> {
  /** The pipeline, as the browser runtime and `reconcile` take it: `(events$) => events$.pipe(eventTime(…), windowBy(…))`. Its events are the `data` of each wire event. */
  readonly pipeline: BatchPipeline<E>;
  /** Number of partitions (default 1): a client's events all go to partition `partitionOf(clientId, partitions)`, each a Durable Object running its own pipeline. */
  readonly partitions?: number;
  /** Name of the Durable Object namespace binding in `env` (default `'PARTITIONS'`). */
  readonly binding?: string;
  /** The upstream secret; default `env.TIDEMARK_SECRET`. */
  readonly secret?: string;
  /** The upstream server's base URL; default `env.TIDEMARK_UPSTREAM`. `false`: keep events at the edge, forward nothing. */
  readonly upstream?: string | false;
  /** Checkpoint every this many new events of a partition (default 1 000; 1 checkpoints every batch). */
  readonly checkpoint?: { readonly everyEvents?: number };
  /** The live view keeps the latest pane of up to `maxWindows` windows per partition (default 100 000). */
  readonly view?: { readonly maxWindows?: number };
  /**
   * Forwarding, with the protocol's backoff (`docs/protocol.md`): after a
   * failure, a random wait under a ceiling that doubles from `minBackoffMs`
   * (1 000) to `maxBackoffMs` (60 000); after a wrong secret or URL, half to
   * all of `maxBackoffMs`. `timeoutMs` (10 000) per request;
   * `maxRecordsPerAlarm` (64).
   */
  readonly forward?: {
    readonly minBackoffMs?: number;
    readonly maxBackoffMs?: number;
    readonly timeoutMs?: number;
    readonly maxRecordsPerAlarm?: number;
  };
  /** Client id whose token reads `GET /v1/results` (default `'tidemark-results'`); `false` makes results public. */
  readonly resultsReader?: string | false;
  /** Passed to the ingest handler: see `createHandler`. Rate buckets are per isolate. */
  readonly rate?: HandlerOptions['rate'];
  readonly maxBodyBytes?: number;
  /** The clock (default `Date.now`). */
  readonly now?: () => number;
}

/**
 * `GET /v1/results`: every partition's live view and progress (or one, with
 * `?partition=n`); `from`, `to` and `key` filter the windows as they filter
 * the server's `GET /v1/views`, and each partition's `rows` have its row shape.
 * A partition holds the windows of its own clients only: the view across
 * all clients is the server's, once the events are forwarded.
 */
export interface EdgeResults {
  readonly partitions: readonly (PartitionResults & { readonly partition: number })[];
}

/** The module worker's parts: export `fetch` as the default handler and `Partition` as the Durable Object class. */
export interface Edge {
  /** The worker's fetch handler: `POST /v1/ingest`, `GET /v1/results`, and the server's other routes. */
  fetch(request: Request, env: EdgeEnv): Promise<Response>;
  /** The Durable Object class; export it under the `class_name` of your `wrangler.toml` binding. */
  readonly Partition: new (state: DurableObjectStateLike, env: EdgeEnv) => PartitionObject;
}

/** The part of a Durable Object namespace binding the edge uses. */
export interface DurableObjectNamespaceLike {
  idFromName(name: string): unknown;
  get(id: never): { fetch(request: Request): Promise<Response> };
}


const KNOWN = ['pipeline', 'partitions', 'binding', 'secret', 'upstream', 'checkpoint', 'view', 'forward', 'resultsReader', 'rate', 'maxBodyBytes', 'now'];

/**
 * Creates an edge worker running `pipeline` in Durable Objects. Every
 * accepted batch is appended to its partition's outbox in Durable Object
 * storage (de-duplicated by `(clientId, seq)`, so a retried batch counts
 * once) before the client gets its answer; the pipeline processes it, and
 * a checkpoint (snapshot + view + position, one commit) is written every
 * `checkpoint.everyEvents`. A restarted object restores the checkpoint and
 * replays the outbox after it: results are exact. Its alarm forwards the
 * outbox to the upstream server as the clients that sent it, retrying with
 * the protocol's backoff (exponential, with jitter; see `docs/protocol.md`);
 * the upstream de-duplicates, so each event is logged there once.
 *
 * | Request | Answer |
 * | --- | --- |
 * | `POST /v1/ingest` | as the server: `200 {ackedThrough, appended, duplicates, gaps}` once durable at the edge; `400`/`401`/`413`/`429`; `503` when storage fails |
 * | `GET /v1/results[?partition=n]` | `200` {@link EdgeResults}, with `Authorization: Bearer <token of resultsReader>` |
 *
 * @param options - see {@link EdgeOptions}; checked now, `env` bindings on the first request
 * @throws {@link InvalidOptionError} for a missing pipeline or an out-of-range number
 * @example
 * ```ts
 * // edge.ts: bundle with `npx tidemark build-edge edge.ts dist-edge`
 * import { createEdge } from 'tidemark/edge';
 * import { eventTime, windowBy, tumbling, count } from 'tidemark';
 * const edge = createEdge({
 *   partitions: 4,
 *   pipeline: (events$) => events$.pipe(
 *     eventTime({ timestamp: (e: { page: string; ts: number }) => e.ts, maxOutOfOrderness: 2_000 }),
 *     windowBy({ key: (e) => e.page, window: tumbling(60_000), aggregate: count() })),
 * });
 * export const EdgePartition = edge.Partition;
 * export default { fetch: edge.fetch };
 * ```
 */
export function createEdge<E = any>(options: EdgeOptions<E>): Edge {
  requireObject('createEdge', options);
  rejectUnknown('createEdge', options, KNOWN);
  requireFunction('createEdge.pipeline', options.pipeline, 'pass (events$) => events$.pipe(eventTime(...), windowBy(...))');
  const partitions = options.partitions ?? 1;
  requirePositiveInteger('createEdge.partitions', partitions);
  if (partitions > 1024) throw new InvalidOptionError('createEdge.partitions', `at most 1024, got ${partitions}`);
  const binding = options.binding ?? 'PARTITIONS';
  if (typeof binding !== 'string' || binding === '')
    throw new InvalidOptionError('createEdge.binding', `expected the name of the Durable Object binding, got ${describe(binding)}`);
  const everyEvents = options.checkpoint?.everyEvents ?? 1_000;
  requirePositiveInteger('createEdge.checkpoint.everyEvents', everyEvents);
  const maxWindows = options.view?.maxWindows ?? 100_000;
  requirePositiveInteger('createEdge.view.maxWindows', maxWindows);
  const fwd = { minBackoffMs: 1_000, maxBackoffMs: 60_000, timeoutMs: 10_000, maxRecordsPerAlarm: 64, ...options.forward };
  requirePositive('createEdge.forward.minBackoffMs', fwd.minBackoffMs);
  requirePositive('createEdge.forward.maxBackoffMs', fwd.maxBackoffMs);
  requirePositive('createEdge.forward.timeoutMs', fwd.timeoutMs);
  requirePositiveInteger('createEdge.forward.maxRecordsPerAlarm', fwd.maxRecordsPerAlarm);
  if (options.upstream !== undefined && options.upstream !== false && !/^https?:\/\//.test(String(options.upstream)))
    throw new InvalidOptionError('createEdge.upstream', `expected an http(s) base URL or false, got ${describe(options.upstream)}`);
  const reader = options.resultsReader ?? 'tidemark-results';
  if (reader !== false && (typeof reader !== 'string' || reader === ''))
    throw new InvalidOptionError('createEdge.resultsReader', `expected a client id or false, got ${describe(reader)}`);
  const now = options.now ?? Date.now;
  const config = {
    pipeline: options.pipeline,
    secret: options.secret,
    upstream: options.upstream,
    checkpointEveryEvents: everyEvents,
    viewMaxWindows: maxWindows,
    minBackoffMs: fwd.minBackoffMs,
    maxBackoffMs: fwd.maxBackoffMs,
    maxRecordsPerAlarm: fwd.maxRecordsPerAlarm,
    forwardTimeoutMs: fwd.timeoutMs,
    now,
  };
  const prefix = `/v${PROTOCOL_VERSION}/`;
  const handlers = new WeakMap<object, Promise<{ handler: Handler; key: CryptoKey }>>();

  function namespace(env: EdgeEnv): DurableObjectNamespaceLike {
    const ns = env[binding] as Partial<DurableObjectNamespaceLike> | undefined;
    if (typeof ns?.idFromName !== 'function')
      throw new InvalidOptionError(
        `env.${binding}`,
        `no Durable Object binding named ${binding}; declare it in wrangler.toml ([[durable_objects.bindings]] name = "${binding}") or pass createEdge({ binding })`,
      );
    return ns as DurableObjectNamespaceLike;
  }
  const stub = (env: EdgeEnv, n: number) => {
    const ns = namespace(env);
    return ns.get(ns.idFromName(`p${n}`) as never);
  };

  async function call<T>(env: EdgeEnv, n: number, request: Request): Promise<T> {
    let res: Response;
    try {
      res = await stub(env, n).fetch(request);
    } catch (e) {
      throw new StorageError(`partition ${n} is unavailable: ${errorParts(e).message}`);
    }
    const body = (await res.json()) as T & Partial<ErrorBody>;
    if (res.ok) return body;
    const message = `partition ${n}: ${body.error?.message ?? res.statusText}`;
    throw res.status === 503 ? new StorageError(message) : new Error(message);
  }

  /** The handler's log: each client's batch goes to its partition. The edge keeps no readable log. */
  function partitionLog(env: EdgeEnv): EventLog {
    return {
      append: (clientId: string, events: readonly WireEvent[], receivedAt: number) => {
        const n = partitionOf(clientId, partitions);
        const request = new Request(`https://partition/ingest`, { method: 'POST', body: JSON.stringify({ clientId, events, receivedAt }) });
        return call<AppendOutcome>(env, n, request);
      },
      read: async function* () {}, // events live in the upstream log: read that one
      clients: () => [],
      stats: () => ({ events: 0, bytes: 0, clients: 0 }),
      close: async () => {},
    };
  }

  function setup(env: EdgeEnv) {
    let ready = handlers.get(env);
    if (!ready) {
      ready = (async () => {
        const { secret } = configured(config, env);
        namespace(env);
        const handler = await createHandler({
          log: partitionLog(env),
          secret,
          now,
          ...(options.rate !== undefined ? { rate: options.rate } : {}),
          ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
        });
        return { handler, key: await signingKey(secret) };
      })();
      ready.catch(() => handlers.delete(env));
      handlers.set(env, ready);
    }
    return ready;
  }

  const json = (status: number, body: unknown) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', 'access-control-allow-origin': '*' } });

  async function results(request: Request, url: URL, env: EdgeEnv, key: CryptoKey): Promise<Response> {
    if (request.method !== 'GET') throw new ProtocolError(405, `${request.method} is not allowed on ${url.pathname}`);
    if (reader !== false) {
      const header = request.headers.get('authorization') ?? '';
      const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
      if (!token || !(await verifyToken(key, reader, token)))
        throw new ProtocolError(401, `results need \`Authorization: Bearer <token>\` with the token of client id ${reader} (\`npx tidemark token ${reader}\`)`);
    }
    const params = new URLSearchParams(url.searchParams);
    params.delete('partition');
    const filter = parseViewQuery(params);
    const which = url.searchParams.get('partition');
    let list = Array.from({ length: partitions }, (_, i) => i);
    if (which !== null) {
      const n = Number(which);
      if (!Number.isSafeInteger(n) || n < 0 || n >= partitions)
        throw new ProtocolError(400, `must be a whole number from 0 to ${partitions - 1}`, 'partition');
      list = [n];
    }
    const answers = await Promise.all(
      list.map(async (n) => {
        const r = await call<PartitionResults>(env, n, new Request('https://partition/results'));
        return { ...r, partition: n, windows: r.windows.filter((w) => matches(w, filter)), rows: r.rows.filter((w) => matches(w, filter)) };
      }),
    );
    return json(200, { partitions: answers } satisfies EdgeResults);
  }

  async function fetch(request: Request, env: EdgeEnv): Promise<Response> {
    try {
      const { handler, key } = await setup(env);
      const url = new URL(request.url);
      if (url.pathname === `${prefix}results` && request.method !== 'OPTIONS') return await results(request, url, env, key);
      return await handler(request);
    } catch (err) {
      const { name, message } = errorParts(err);
      if (err instanceof ProtocolError)
        return json(err.status, { error: { name, message, ...(err.field ? { field: err.field } : {}) } } satisfies ErrorBody);
      return json(err instanceof StorageError ? 503 : 500, { error: { name, message } } satisfies ErrorBody);
    }
  }

  return { fetch, Partition: partitionClass(config) };
}
