#!/usr/bin/env node
/// <reference types="node" />
/**
 * `npx tidemark <command>`: serve, token, export, reconcile, replay.
 * Run `npx tidemark help` for the usage.
 *
 * @module
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { errorParts } from '../errors.js';
import { tokenFor } from '../protocol/tokens.js';
import { fileCorrections } from './corrections-store.js';
import { fileLog } from './file-log.js';
import { createHandler } from '../host/ingest/handler.js';
import { jetStreamLog } from './jetstream-log.js';
import type { EventLog } from '../host/ingest/log.js';
import { listen } from './node-adapter.js';
import { loadPipeline } from './load-pipeline.js';
import { reconcile } from './reconcile.js';
import { replay } from './replay.js';
import { secretIn } from './secret-file.js';
import { fileResults } from './results-store.js';

const USAGE = `Usage: tidemark <command> [options]

  serve      --port 8787 --host 127.0.0.1 --data ./tidemark-data [--nats nats://127.0.0.1:4222] [--secret S]
             Serves POST /v1/ingest, GET /v1/corrections and GET /metrics.
  token      <clientId> --data ./tidemark-data [--secret S]
             Prints the client's token.
  export     --data ./tidemark-data [--nats URL] [--client ID]
             Prints the log as NDJSON: clientId, seq, ts, receivedAt, data.
  reconcile  --pipeline ./pipeline.js --data ./tidemark-data [--nats URL]
             Re-runs the pipeline over the log, writes corrections, prints a report.
  replay     --pipeline ./new.js --baseline ./old.js --data ./tidemark-data [--nats URL]
             Runs both pipeline versions over the log and prints the windows that differ.

The secret: --secret, else $TIDEMARK_SECRET, else <data>/secret (created on first use).
A pipeline module exports \`pipeline\` (or a default): (events$) => results$, the one the worker runs.`;

class UsageError extends Error {
  override name = 'UsageError';
}

const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  data: { type: 'string' },
  nats: { type: 'string' },
  stream: { type: 'string' },
  secret: { type: 'string' },
  client: { type: 'string' },
  pipeline: { type: 'string' },
  baseline: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

/** The data directory, created if missing. */
function dataDir(flags: Flags): string {
  const dir = resolve(flags.data ?? './tidemark-data');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The signing secret: the flag, the environment, or one generated once and kept in the data directory. */
function secretOf(flags: Flags): string {
  if (flags.secret) return flags.secret;
  if (process.env['TIDEMARK_SECRET']) return process.env['TIDEMARK_SECRET'];
  const { secret, created, file } = secretIn(dataDir(flags));
  if (created) console.error(`tidemark: created a signing secret in ${file} (keep it private; tokens depend on it)`);
  return secret;
}

async function openLog(flags: Flags): Promise<EventLog> {
  if (flags.nats) return jetStreamLog({ servers: flags.nats, ...(flags.stream ? { stream: flags.stream } : {}) });
  return fileLog(join(dataDir(flags), 'log'));
}

async function serve(flags: Flags): Promise<void> {
  const port = Number(flags.port ?? 8787);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0-65535, got ${flags.port}`);
  const dir = dataDir(flags);
  const log = await openLog(flags);
  const results = await fileResults(join(dir, 'results'));
  const corrections = await fileCorrections(join(dir, 'corrections'));
  const handler = await createHandler({ log, secret: secretOf(flags), results, corrections });
  const server = await listen(handler, { port, host: flags.host ?? '127.0.0.1' });
  const where = flags.nats ? `JetStream at ${flags.nats}` : `file log in ${join(dir, 'log')}`;
  console.log(`tidemark: serving ${server.url}/v1 (${where}); metrics at ${server.url}/metrics`);
  const stop = async () => {
    await server.close();
    await log.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

async function exportLog(flags: Flags): Promise<void> {
  const log = await openLog(flags);
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
  const log = await openLog(flags);
  const results = await fileResults(join(dir, 'results'));
  const corrections = await fileCorrections(join(dir, 'corrections'));
  try {
    console.log(JSON.stringify(await reconcile({ log, pipeline, results, corrections })));
  } finally {
    await log.close();
    await results.close();
    await corrections.close();
  }
}

async function runReplay(flags: Flags): Promise<void> {
  if (!flags.pipeline || !flags.baseline) throw new UsageError('replay needs --pipeline ./new.js and --baseline ./old.js');
  const [pipeline, baseline] = await Promise.all([loadPipeline(flags.pipeline), loadPipeline(flags.baseline)]);
  const log = await openLog(flags);
  try {
    console.log(JSON.stringify(await replay({ log, pipeline, baseline }), null, 2));
  } finally {
    await log.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  const flags = values as Flags;
  const [command, ...rest] = positionals;
  if (flags.help || command === undefined || command === 'help') return void console.log(USAGE);
  switch (command) {
    case 'serve':
      return serve(flags);
    case 'token': {
      const clientId = rest[0];
      if (!clientId) throw new UsageError('token needs a client id: tidemark token <clientId>');
      return void console.log(await tokenFor(secretOf(flags), clientId));
    }
    case 'export':
      return exportLog(flags);
    case 'reconcile':
      return runReconcile(flags);
    case 'replay':
      return runReplay(flags);
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
