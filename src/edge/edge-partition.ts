/**
 * The Durable Object class of one partition: it owns a
 * {@link PartitionRunner} over its storage, answers the edge entry's
 * internal requests (`POST /ingest`, `GET /results`) and drains its outbox
 * upstream from its alarm, with the protocol's backoff (`docs/protocol.md`).
 *
 * @module
 */
import { errorParts, InvalidOptionError, StorageError } from '../errors.js';
import type { WireEvent } from '../protocol/wire.js';
import { signingKey } from '../protocol/tokens.js';
import type { BatchPipeline } from '../host/pipeline-session.js';
import { type DurableObjectStorageLike, openDurableObjectStore } from './durable-object-store.js';
import { upstreamSender } from './forward.js';
import { type ForwardBatch, type ForwardOutcome, type PartitionSettings, PartitionRunner } from './partition.js';

type Send = (batch: ForwardBatch) => Promise<ForwardOutcome>;

/** The part of a Durable Object's `state` (`ctx`) the partition uses. */
export interface DurableObjectStateLike {
  readonly storage: DurableObjectStorageLike;
  blockConcurrencyWhile<T>(callback: () => Promise<T>): Promise<T>;
}

/** The bindings the edge worker reads: the secret and the upstream URL (plus the Durable Object namespace). */
export interface EdgeEnv {
  /** The upstream server's token secret (`wrangler secret put TIDEMARK_SECRET`). */
  readonly TIDEMARK_SECRET?: string;
  /** The upstream server's base URL, e.g. `https://ingest.example.com`. */
  readonly TIDEMARK_UPSTREAM?: string;
  readonly [binding: string]: unknown;
}

/** What a partition object answers to. */
export interface PartitionObject {
  fetch(request: Request): Promise<Response>;
  alarm(): Promise<void>;
}

/** Settings shared by every partition object of one edge. @internal */
export interface PartitionConfig extends PartitionSettings {
  readonly pipeline: BatchPipeline;
  readonly secret: string | undefined;
  readonly upstream: string | false | undefined;
  readonly forwardTimeoutMs: number;
}

/** Reads the secret and upstream from the options or `env`, saying how to set them when missing. @internal */
export function configured(config: Pick<PartitionConfig, 'secret' | 'upstream'>, env: EdgeEnv) {
  const secret = config.secret ?? env.TIDEMARK_SECRET;
  if (typeof secret !== 'string' || secret.length === 0)
    throw new InvalidOptionError(
      'TIDEMARK_SECRET',
      'the edge needs the upstream server secret to check client tokens: `wrangler secret put TIDEMARK_SECRET` (or pass createEdge({ secret }))',
    );
  const upstream = config.upstream ?? env.TIDEMARK_UPSTREAM;
  if (upstream !== false && (typeof upstream !== 'string' || !/^https?:\/\//.test(upstream)))
    throw new InvalidOptionError(
      'TIDEMARK_UPSTREAM',
      `expected the upstream server's http(s) base URL in [vars] of wrangler.toml (or createEdge({ upstream: false }) to keep events at the edge), got ${JSON.stringify(upstream)}`,
    );
  return { secret, upstream };
}

/** Builds the Durable Object class for `config`. @internal */
export function partitionClass(config: PartitionConfig): new (state: DurableObjectStateLike, env: EdgeEnv) => PartitionObject {
  return class EdgePartition implements PartitionObject {
    private ready: Promise<PartitionRunner> | undefined;
    private alarmSet = false;
    private sending: Promise<Send> | undefined;

    constructor(
      private readonly state: DurableObjectStateLike,
      private readonly env: EdgeEnv,
    ) {}

    private runner(): Promise<PartitionRunner> {
      this.ready ??= this.state
        .blockConcurrencyWhile(async () => {
          const store = await openDurableObjectStore(this.state.storage);
          const runner = await PartitionRunner.open(store, config.pipeline, config);
          // An outbox left unforwarded by an earlier instance needs an alarm.
          this.alarmSet = (await store.alarm()) !== null;
          if (!this.alarmSet && (await store.acked()) < store.lastSeq()) await this.schedule(runner, 0);
          return runner;
        })
        .catch((e) => {
          this.ready = undefined; // the next request tries again
          throw e;
        });
      return this.ready;
    }

    /**
     * The upstream sender, made once per object (an object's `env` does not
     * change): the key is imported once and client tokens stay cached across
     * alarms. A configuration error is not kept: the next alarm checks again.
     */
    private sender(): Promise<Send> {
      if (!this.sending) {
        const made = (async (): Promise<Send> => {
          const { secret, upstream } = configured(config, this.env);
          if (upstream === false) return async () => ({ kind: 'acked' });
          return upstreamSender({ upstream, key: await signingKey(secret), timeoutMs: config.forwardTimeoutMs });
        })();
        made.catch(() => {
          if (this.sending === made) this.sending = undefined;
        });
        this.sending = made;
      }
      return this.sending;
    }

    private async schedule(runner: PartitionRunner, inMs: number): Promise<void> {
      await runner.store.setAlarm(config.now() + inMs);
      this.alarmSet = true;
    }

    async fetch(request: Request): Promise<Response> {
      try {
        const runner = await this.runner();
        const path = new URL(request.url).pathname;
        if (request.method === 'POST' && path === '/ingest') {
          const body = (await request.json()) as { clientId: string; events: WireEvent[]; receivedAt: number };
          const { outcome, appended } = await runner.ingest(body.clientId, body.events, body.receivedAt);
          if (appended && !this.alarmSet) await this.schedule(runner, 0);
          return Response.json(outcome);
        }
        if (request.method === 'GET' && path === '/results') return Response.json(await runner.results());
        return Response.json({ error: { name: 'ProtocolError', message: `no partition route ${path}` } }, { status: 404 });
      } catch (e) {
        const { name, message } = errorParts(e);
        return Response.json({ error: { name, message } }, { status: e instanceof StorageError ? 503 : 500 });
      }
    }

    async alarm(): Promise<void> {
      this.alarmSet = false;
      const runner = await this.runner();
      let next: number | undefined;
      try {
        next = await runner.forward(await this.sender());
      } catch {
        next = config.maxBackoffMs; // storage or configuration trouble: try again later
      }
      if (next !== undefined && !this.alarmSet) await this.schedule(runner, next);
    }
  };
}
