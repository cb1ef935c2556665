#!/usr/bin/env node
/// <reference types="node" />
/**
 * `npx tidemark <command>`: serve, token, export, reconcile, replay,
 * build-edge. Run `npx tidemark help` for the usage.
 *
 * @module
 */
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { errorParts } from '../errors.js';
import { adminTokenFor, keyIdOf, readerTokenFor, tokenFor } from '../protocol/tokens.js';
import { batchLayer } from './batch-layer.js';
import { buildEdge } from './build-edge.js';
import { DEFAULT_DATA, dataDir, type Flags, natsServers, OPTIONS, readLog, reconcileSummary, UsageError } from './cli-common.js';
import { clusterStores } from './cluster-stores.js';
import { serve } from './cli-serve.js';
import { fileCorrections } from './corrections-store.js';
import { loadPipeline } from './load-pipeline.js';
import { replay } from './replay.js';
import { fileResults } from './results-store.js';
import { batchView } from './retention.js';
import { existingSecret } from './secret-file.js';

const USAGE = `Usage: tidemark <command> [options]

  serve       --port 8787 --host 127.0.0.1 --data ./tidemark-data [--nats nats://127.0.0.1:4222[,…]] [--secret S]
              [--pipeline ./pipeline.js [--reconcile-every 5m] [--retention 30d] [--idle-timeout 60s]
              [--views-for-clients]]
              Serves POST /v1/ingest, GET /v1/corrections and GET /metrics; with --pipeline, also runs
              the batch layer every --reconcile-every (30s, 5m, 1h, 2d; a bare number is seconds; default
              60s) in this process, and at once on POST /v1/reconcile with the admin token. --retention
              (default: keep everything) deletes log segments older than that once the batch layer has
              made final every window they feed; their batch values are kept (see view).
              With --pipeline and the file log, the global speed layer runs the pipeline over every
              client's events as they arrive (one watermark per client; a client silent --idle-timeout
              stops holding it back) and serves the view across clients, corrected by the batch layer:
              GET /v1/views and GET /v1/views/stream (Server-Sent Events) with a reader token
              (--views-for-clients: client tokens too).
              With --nats URL[,URL…] (a JetStream cluster's nodes) every piece of state is in JetStream:
              the log, uploaded results, corrections, the view, checkpoints and leases; run several serve
              processes with the same --nats, --secret, --pipeline and --partitions. [--replicas 3] (1, 3
              or 5: streams and bucket), [--partitions N] (the global speed and batch layers split by
              client; N > 1 needs the pipeline module to export merge), [--lease-ttl 10s] (a process
              silent this long loses its partitions to the others).
  token       <clientId> --data ./tidemark-data [--secret S]
              Prints the client's token, signed with the server's secret.
  token       --admin --data ./tidemark-data [--secret S]
              Prints the admin token (POST /v1/reconcile); give it to operators only.
  token       --reader <name> --data ./tidemark-data [--secret S]
              Prints a reader token: it reads GET /v1/views and /v1/views/stream, and cannot ingest.
  export      --data ./tidemark-data [--nats URL] [--client ID]
              Prints the log as NDJSON: clientId, seq, ts, receivedAt, data. Runs beside serve: it reads
              a snapshot of the log, with no lock.
  reconcile   --pipeline ./pipeline.js --data ./tidemark-data [--nats URL[,URL…]] [--json]
              Re-runs the pipeline over the log, writes corrections, prints a summary (--json: the report).
              Runs beside serve (its corrections reach clients with no restart); never beside another
              batch run over the same data: it waits for the one under way (and says which process runs it).
  view        --data ./tidemark-data [--client ID | --global]
              Prints the persisted batch view as NDJSON: the final batch values of the windows whose
              events retention deleted (clientId null: over all clients).
  replay      --pipeline ./new.js --baseline ./old.js --data ./tidemark-data [--nats URL]
              Runs both pipeline versions over the log and prints the windows that differ.
  build-edge  <pipeline-or-worker-entry> <out-dir> [--partitions 4] [--no-minify] [--name tidemark-edge]
              Bundles an edge worker (worker.mjs) and a sample wrangler.toml. Needs esbuild.

The secret: --secret, else $TIDEMARK_SECRET, else <data>/secret, which serve creates on its first start.
A pipeline module exports \`pipeline\` (or a default): (events$) => results$, the one the worker runs.
--nats needs the NATS client: npm install @nats-io/transport-node @nats-io/jetstream @nats-io/kv`;

/** `token` found no secret to sign with (it never creates one). */
class MissingSecretError extends Error {
  override name = 'MissingSecretError';
}

/**
 * `token`'s secret: the server's, never a new one (a token signed with a
 * secret the server lacks is refused), so a missing one stops with the
 * commands to run.
 */
function tokenSecret(flags: Flags): { secret: string; from: string } {
  if (flags.secret) return { secret: flags.secret, from: '--secret' };
  if (process.env['TIDEMARK_SECRET']) return { secret: process.env['TIDEMARK_SECRET'], from: '$TIDEMARK_SECRET' };
  const data = flags.data ?? DEFAULT_DATA;
  const found = existingSecret(resolve(data));
  if (found) return { secret: found.secret, from: found.file };
  throw new MissingSecretError(
    [
      `no signing secret: ${join(resolve(data), 'secret')} does not exist.`,
      "A token must be signed with the secret of the server that checks it; `tidemark serve` creates one on its first start:",
      `  npx tidemark serve --data ${data}`,
      `  npx tidemark token <clientId> --data ${data}`,
      "or pass the server's secret with --secret or $TIDEMARK_SECRET.",
    ].join('\n'),
  );
}

async function printView(flags: Flags): Promise<void> {
  if (flags.client && flags.global) throw new UsageError('view takes --client ID or --global, not both');
  const windows = await batchView(resolve(flags.data ?? DEFAULT_DATA), flags.global ? null : flags.client);
  let out = '';
  for (const w of windows) out += `${JSON.stringify(w)}\n`;
  process.stdout.write(out);
}

async function token(flags: Flags, clientId: string | undefined): Promise<void> {
  const kinds = [clientId !== undefined, flags.admin === true, flags.reader !== undefined].filter(Boolean).length;
  if (kinds > 1) throw new UsageError('token takes one of: a client id, --admin, --reader <name>');
  if (kinds === 0)
    throw new UsageError('token needs a client id (tidemark token <clientId>), --admin for the admin token, or --reader <name> for a reader token');
  if (flags.reader !== undefined && !/^[A-Za-z0-9_-]{1,128}$/.test(flags.reader))
    throw new UsageError(`--reader takes a name of 1-128 characters of A-Z a-z 0-9 _ -, got ${JSON.stringify(flags.reader)}`);
  const { secret, from } = tokenSecret(flags);
  console.log(
    clientId
      ? await tokenFor(secret, clientId)
      : flags.reader !== undefined
        ? await readerTokenFor(secret, flags.reader)
        : await adminTokenFor(secret),
  );
  console.error(`tidemark: signed with the secret from ${from} (key id ${await keyIdOf(secret)})`);
}

async function exportLog(flags: Flags): Promise<void> {
  const log = await readLog(flags);
  try {
    for await (const chunk of log.read(flags.client ? { clientId: flags.client } : undefined)) {
      let out = '';
      for (const e of chunk)
        out += `${JSON.stringify({ clientId: e.clientId, seq: e.seq, ts: e.ts, receivedAt: e.receivedAt, data: e.data })}\n`;
      if (!process.stdout.write(out)) await new Promise((r) => process.stdout.once('drain', r));
    }
  } finally {
    await log.close();
  }
}

async function runReconcile(flags: Flags): Promise<void> {
  if (!flags.pipeline) throw new UsageError('reconcile needs --pipeline ./pipeline.js');
  const pipeline = await loadPipeline(flags.pipeline);
  const dir = dataDir(flags);
  const batch = batchLayer({
    dataDir: dir,
    pipeline,
    // Beside a server's own runs: wait for the one under way, never overlap it.
    waitEveryMs: 250,
    onWait: (err) => console.error(`tidemark: waiting: ${err.message.split(': two batch runs')[0]}`),
    // Opened once the batch lock is held: the corrections file is written by one batch run at a time.
    open: async () => {
      // The results before the log: an upload's events are in the log before its results and watermark.
      if (flags.nats) {
        // A cluster's results and corrections are in JetStream, beside its log.
        const stores = await clusterStores({ servers: natsServers(flags.nats), ...(flags.stream ? { stream: flags.stream } : {}) });
        const log = await readLog(flags);
        return { log, results: stores.results, corrections: stores.corrections, release: async () => void (await Promise.all([log.close(), stores.close()])) };
      }
      const results = await fileResults(join(dir, 'results'), { readOnly: true }); // the server writes it
      const log = await readLog(flags);
      const corrections = await fileCorrections(join(dir, 'corrections'));
      return { log, results, corrections, release: async () => void (await Promise.all([log.close(), results.close(), corrections.close()])) };
    },
  });
  const report = await batch.run();
  console.log(flags.json ? JSON.stringify(report) : reconcileSummary(report));
  if (report.failures.length > 0) process.exitCode = 1;
}

async function runReplay(flags: Flags): Promise<void> {
  if (!flags.pipeline || !flags.baseline) throw new UsageError('replay needs --pipeline ./new.js and --baseline ./old.js');
  const [pipeline, baseline] = await Promise.all([loadPipeline(flags.pipeline), loadPipeline(flags.baseline)]);
  const log = await readLog(flags);
  try {
    console.log(JSON.stringify(await replay({ log, pipeline, baseline }), null, 2));
  } finally {
    await log.close();
  }
}

async function runBuildEdge(flags: Flags, [module, outDir]: string[]): Promise<void> {
  if (!module || !outDir) throw new UsageError('build-edge needs a module and an output directory: tidemark build-edge pipeline.js dist-edge');
  const partitions = flags.partitions === undefined ? undefined : Number(flags.partitions);
  const built = await buildEdge({
    module,
    outDir,
    minify: !flags['no-minify'],
    ...(partitions === undefined ? {} : { partitions }),
    ...(flags.name ? { name: flags.name } : {}),
  });
  const kB = (n: number) => `${(n / 1024).toFixed(1)} kB`;
  console.log(
    `${relative(process.cwd(), built.script)}: ${kB(built.bytes)}, ${kB(built.gzipBytes)} gzipped` +
      `${built.generated ? ' (entry generated from the pipeline module)' : ''}; ${relative(process.cwd(), built.wrangler)} written`,
  );
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const flags = values as Flags;
  const [command, ...rest] = positionals;
  if (command === undefined && !flags.help) throw new UsageError('no command given');
  if (flags.help || command === 'help') return void console.log(USAGE);
  switch (command) {
    case 'serve':
      return serve(flags);
    case 'token':
      return token(flags, rest[0]);
    case 'export':
      return exportLog(flags);
    case 'reconcile':
      return runReconcile(flags);
    case 'replay':
      return runReplay(flags);
    case 'view':
      return printView(flags);
    case 'build-edge':
      return runBuildEdge(flags, rest);
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const { name, message } = errorParts(err);
  console.error(`tidemark: ${name}: ${message}`);
  if (name === 'UsageError' || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) console.error(`\n${USAGE}`);
  process.exitCode = 1;
});
