/**
 * The uploaded results and the corrections of a server cluster, kept in
 * JetStream (`tidemark serve --nats`): no state on a server's disk, and
 * every process reads what any process wrote. Each store keeps the index
 * the file stores keep, fed by following its subject of the stream
 * `<stream>_SERVER`.
 *
 * @module
 */
import { InvalidOptionError, describe } from '../errors.js';
import { type Clock, systemClock } from '../time/clock.js';
import { type CorrectionStore, correctionStore, Feed } from './corrections-store.js';
import type { ClusterNats } from './jetstream-cluster.js';
import { LatestResults, type ResultStore, resultStore } from './results-store.js';
import type { Correction, WireResult } from '../protocol/wire.js';

/** Options of {@link clusterStores}. */
export interface ClusterStoresOptions {
  /** NATS server URL(s) of the cluster. */
  readonly servers: string | readonly string[];
  /** The log's stream: the stores live in `<stream>_SERVER`. Default `'TIDEMARK'`. */
  readonly stream?: string;
  /** Subjects are `<subjectPrefix>.server.results` and `.corrections`. Default `'tidemark'`. */
  readonly subjectPrefix?: string;
  /** Replicas of the stream (1, 3 or 5). Default 1. */
  readonly replicas?: number;
  /** How long a request to NATS may take (ms, default 5 000). */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
}

/** The result and correction stores of a cluster. */
export interface ClusterStores {
  /** Uploaded results; `refresh()` reads what other processes stored (the batch layer calls it before a run). */
  readonly results: ResultStore & { refresh(): Promise<void> };
  /** Corrections; a write is refused while another process writes (one batch run at a time). */
  readonly corrections: CorrectionStore;
  close(): Promise<void>;
}

/**
 * Opens the result and correction stores of a server cluster on NATS
 * JetStream, reading back everything stored so far.
 *
 * @throws {@link InvalidOptionError} for bad options or a stream that cannot hold them; {@link StorageError} when NATS cannot be reached
 * @example
 * ```ts
 * import { clusterStores } from 'tidemark/server';
 * const { results, corrections, close } = await clusterStores({ servers: 'nats://127.0.0.1:4222' });
 * await results.put('c1', [{ key: '/', start: 0, end: 60_000, value: 3, pane: 0 }], Date.now());
 * await corrections.write([{ clientId: 'c1', key: '/', start: 0, end: 60_000, speed: 3, batch: 4, at: Date.now() }]);
 * console.log(results.get('c1').length, corrections.since('c1', 0).corrections.length); // 1 1
 * await close();
 * ```
 */
export async function clusterStores(options: ClusterStoresOptions): Promise<ClusterStores> {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('clusterStores(options)', `expected an options object, got ${describe(options)}`);
  const servers = typeof options.servers === 'string' ? [options.servers] : [...(options.servers ?? [])];
  if (servers.length === 0) throw new InvalidOptionError('clusterStores.servers', `expected a NATS URL, got ${describe(options.servers)}`);
  const replicas = options.replicas ?? 1;
  if (![1, 3, 5].includes(replicas)) throw new InvalidOptionError('clusterStores.replicas', `expected 1, 3 or 5, got ${describe(options.replicas)}`);
  const { loadOptional } = await import('./optional-package.js');
  const { openClusterNats } = await loadOptional(
    'the cluster stores',
    ['@nats-io/transport-node@^3.4.0', '@nats-io/jetstream@^3.4.0', '@nats-io/kv@^3.4.0'],
    () => import('./jetstream-cluster.js'),
  );
  const nats: ClusterNats = await openClusterNats({
    servers,
    stream: options.stream ?? 'TIDEMARK',
    prefix: options.subjectPrefix ?? 'tidemark',
    replicas,
    timeoutMs: options.timeoutMs ?? 5_000,
    clock: options.clock ?? systemClock,
  });
  try {
    const index = new LatestResults();
    const resultLog = await nats.records('results', (v) => {
      const line = v as { clientId: string; receivedAt: number; results: readonly WireResult[]; watermark?: number };
      index.put(line.clientId, line.results, line.receivedAt, line.watermark);
    });
    const feed = new Feed();
    const correctionLog = await nats.records(
      'corrections',
      (v) => {
        const stored = v as (Correction & { clientId: string })[];
        feed.add(stored);
        if (stored.length > 0) feed.written = Math.max(feed.written, stored[stored.length - 1]!.cursor);
      },
      { exclusive: true },
    );
    const results = resultStore(index, resultLog, 'the cluster result store is closed');
    const corrections = correctionStore(feed, correctionLog, 'the cluster correction store is closed');
    return {
      results: { ...results, refresh: () => resultLog.sync() },
      corrections,
      async close() {
        await Promise.allSettled([results.close(), corrections.close()]);
        await nats.close();
      },
    };
  } catch (e) {
    await nats.close();
    throw e;
  }
}
