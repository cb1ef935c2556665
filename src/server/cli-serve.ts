/// <reference types="node" />
/**
 * `tidemark serve`: ingest over HTTP, and with `--pipeline` the batch layer
 * in the same process (on a schedule, on `POST /v1/reconcile`, with
 * `--retention`).
 *
 * @internal
 * @module
 */
import { join, resolve } from 'node:path';
import { BatchRunningError, errorParts } from '../errors.js';
import { createHandler } from '../host/ingest/handler.js';
import { keyIdOf } from '../protocol/tokens.js';
import { batchLayer } from './batch-layer.js';
import {
  DEFAULT_DATA,
  dataDir,
  duration,
  type Flags,
  natsServers,
  openLog,
  plural,
  reconcileSummary,
  replicas,
  reportBody,
  serverSecret,
  UsageError,
} from './cli-common.js';
import { clusterSpeedLayer } from './cluster-speed.js';
import { clusterStores } from './cluster-stores.js';
import type { WindowValue } from '../windows/identity.js';
import { fileCorrections } from './corrections-store.js';
import { type FileLog, fileLog } from './file-log.js';
import { loadPipelineModule } from './load-pipeline.js';
import { listen } from './node-adapter.js';
import { fileResults } from './results-store.js';
import { globalSpeedLayer } from './global-speed.js';

export async function serve(flags: Flags): Promise<void> {
  const port = Number(flags.port ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535, got ${flags.port}`);
  if (flags['reconcile-every'] !== undefined && !flags.pipeline) throw new UsageError('--reconcile-every needs --pipeline ./pipeline.js');
  const everyMs = duration('reconcile-every', flags['reconcile-every'] ?? '60s');
  if (flags.retention !== undefined && !flags.pipeline)
    throw new UsageError('--retention needs --pipeline ./pipeline.js: segments go only once the batch layer made their windows final');
  if (flags.retention !== undefined && flags.nats)
    throw new UsageError("--retention is for the file log; a JetStream stream's retention is its own (max_age)");
  const retentionMs = flags.retention === undefined ? undefined : duration('retention', flags.retention, 60_000);
  if ((flags['idle-timeout'] !== undefined || flags['views-for-clients']) && !flags.pipeline)
    throw new UsageError('--idle-timeout and --views-for-clients are for the global speed layer: they need --pipeline ./pipeline.js');
  const idleTimeout = flags['idle-timeout'] === undefined ? undefined : duration('idle-timeout', flags['idle-timeout']);
  if ((flags['lease-ttl'] !== undefined || flags.partitions !== undefined) && !(flags.nats && flags.pipeline))
    throw new UsageError('--partitions and --lease-ttl split the global speed layer across serve processes: they need --nats URL and --pipeline ./pipeline.js');
  const leaseTtl = flags['lease-ttl'] === undefined ? undefined : duration('lease-ttl', flags['lease-ttl']);
  const partitions = flags.partitions === undefined ? 1 : Number(flags.partitions);
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024)
    throw new UsageError(`--partitions must be a whole number from 1 to 1024, got ${flags.partitions}`);
  const copies = replicas(flags);
  const loaded = flags.pipeline ? await loadPipelineModule(flags.pipeline) : undefined;
  const pipeline = loaded?.pipeline;
  if (partitions > 1 && !loaded?.merge)
    throw new UsageError(
      `--partitions ${partitions}: each partition computes part of a window, and ${flags.pipeline} exports no merge to combine them; ` +
        'add export const merge = (a, b) => a + b (the aggregate\'s merge: count, sum) to it, or run one partition',
    );
  // With --nats nothing goes to this process's disk: the data directory is not even made.
  const dir = flags.nats ? resolve(flags.data ?? DEFAULT_DATA) : dataDir(flags);
  // Processes of a cluster check each other's tokens: one secret for all, never one made on a process's disk.
  if (flags.nats && !flags.secret && !process.env['TIDEMARK_SECRET'])
    throw new UsageError(
      '--nats: every serve process must check tokens with the same secret; pass it with --secret or $TIDEMARK_SECRET ' +
        '(e.g. TIDEMARK_SECRET=$(openssl rand -hex 32), the same on every machine)',
    );
  const secret = serverSecret(flags);
  const log = flags.nats ? await openLog(flags) : await fileLog(join(dir, 'log'));
  // With --nats, uploaded results and corrections live in JetStream too: any process answers any client.
  const stores = flags.nats
    ? await clusterStores({ servers: natsServers(flags.nats), ...(flags.stream ? { stream: flags.stream } : {}), replicas: copies })
    : undefined;
  const results = stores?.results ?? (await fileResults(join(dir, 'results')));
  const corrections = stores?.corrections ?? (await fileCorrections(join(dir, 'corrections')));
  // The batch layer in this process: it reads the log it serves, and writes the corrections
  // GET /v1/corrections answers from; its batch lock keeps a tidemark reconcile out meanwhile.
  const batch = pipeline
    ? batchLayer({
        dataDir: dir,
        pipeline,
        open: async () => {
          await stores?.results.refresh(); // what the other processes stored
          return { log, results, corrections, release: async () => {} };
        },
        // On a cluster: for the partitions this process owns, their batch views published to the cluster.
        ...(flags.nats ? { run: (inputs, now) => cluster!.runBatch(inputs, now) } : {}),
        ...(retentionMs !== undefined ? { retention: { log: log as FileLog, horizonMs: retentionMs } } : {}),
      })
    : undefined;
  // With --nats: this process's share of the partitions, and the whole view folded from JetStream.
  const cluster =
    pipeline && flags.nats
      ? await clusterSpeedLayer({
          servers: natsServers(flags.nats),
          ...(flags.stream ? { stream: flags.stream } : {}),
          pipeline,
          ...(loaded?.merge ? { merge: loaded.merge } : {}),
          partitions,
          replicas: copies,
          ...(leaseTtl !== undefined ? { leaseTtlMs: leaseTtl } : {}),
          ...(idleTimeout !== undefined ? { idleTimeout } : {}),
          onOwnership: (e) =>
            console.log(
              `tidemark: partition ${e.partition} ${e.kind}${e.staleMs !== undefined ? ` (its lease stood still ${e.staleMs} ms)` : ''}` +
                `${e.reason ? ` (${e.reason})` : ''}; this process runs partitions [${e.owned.join(', ')}] of ${partitions}`,
            ),
          onError: (e) => {
            const { name, message } = errorParts(e);
            console.error(`tidemark: cluster speed layer: ${name}: ${message}`);
          },
        })
      : undefined;
  // The global speed layer follows the file log's appends; it catches up before ingest starts.
  const speed =
    cluster ??
    (pipeline && !flags.nats
      ? await globalSpeedLayer({
          dataDir: dir,
          log: log as FileLog,
          pipeline,
          ...(idleTimeout !== undefined ? { idleTimeout } : {}),
          onError: (e) => {
            const { name, message } = errorParts(e);
            console.error(`tidemark: global speed layer: ${name}: ${message}`);
          },
        })
      : undefined);
  const afterBatch = async <R extends { global: readonly WindowValue[]; frontier: number; startedAt?: number }>(report: R): Promise<R> => {
    // A cluster's batch runs published their parts of the batch view already.
    if (!cluster) await speed?.refreshBatch();
    return report;
  };
  const handler = await createHandler({
    log,
    secret,
    results,
    corrections,
    ...(batch ? { reconcile: async () => reportBody(await afterBatch(await batch.run())) } : {}),
    ...(speed ? { views: speed, metrics: () => speed.metrics(), clientsMayReadViews: flags['views-for-clients'] === true } : {}),
  });
  const server = await listen(handler, { port, host: flags.host ?? '127.0.0.1' });
  const where = flags.nats ? `JetStream at ${flags.nats}` : `file log in ${join(dir, 'log')}`;
  console.log(`tidemark: serving ${server.url}/v1 (${where}); metrics at ${server.url}/metrics`);
  console.log(`tidemark: tokens are checked with the secret of key id ${await keyIdOf(secret)}`);
  const stopSchedule = batch?.every(everyMs, (outcome) => {
    if ('error' in outcome) {
      const { name, message } = errorParts(outcome.error);
      if (outcome.error instanceof BatchRunningError) console.log(`tidemark: scheduled batch run skipped: ${message}`);
      else console.error(`tidemark: reconcile failed: ${name}: ${message}`);
      return;
    }
    const r = outcome.report;
    void afterBatch(r).catch((e) => console.error(`tidemark: reading the batch view: ${errorParts(e).message}`));
    if (r.written > 0 || r.failures.length > 0) console.log(`tidemark: ${reconcileSummary(r).split('\n')[0]}; ${plural(r.written, 'correction')} written`);
    if (r.retention && r.retention.segments > 0)
      console.log(
        `tidemark: retention deleted ${plural(r.retention.segments, 'segment')} (${plural(r.retention.events, 'event')}); ` +
          `windows through ${new Date(r.retention.frozenThrough).toISOString()} are final and kept in the batch view`,
      );
    for (const f of r.failures) console.error(`tidemark: reconcile FAILED for ${f.clientId ?? 'all clients'}: ${f.name}: ${f.message}`);
  });
  if (speed) {
    const st = speed.status();
    console.log(
      `tidemark: global speed layer over ${st.processed} logged events${cluster ? ' (in the partitions this process runs)' : ''}; views at ${server.url}/v1/views and ` +
        `${server.url}/v1/views/stream (reader tokens: tidemark token --reader <name>)`,
    );
  }
  if (cluster)
    console.log(
      `tidemark: cluster member ${cluster.owner}: runs partitions [${cluster.owned().join(', ')}] of ${partitions} ` +
        `(leases and checkpoints in JetStream, ${copies} replica${copies === 1 ? '' : 's'})`,
    );
  if (pipeline)
    console.log(
      `tidemark: running the batch layer with ${flags.pipeline} every ${flags['reconcile-every'] ?? '60s'}, and on POST /v1/reconcile` +
        (flags.retention ? `; retention ${flags.retention}` : ''),
    );
  const stop = async () => {
    stopSchedule?.();
    await batch?.idle();
    await speed?.close();
    await server.close();
    await stores?.close();
    await log.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}
