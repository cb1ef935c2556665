/// <reference types="node" />
/**
 * What the `tidemark` commands share: their flags, the data directory, the
 * secret `serve` keeps there, the log as a writer or a reader opens it,
 * durations, and the reconcile report as a person reads it.
 *
 * @internal
 * @module
 */
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { EventLog } from '../host/ingest/log.js';
import { fileLog } from './file-log.js';
import { readFileLog } from './file-log-snapshot.js';
import { jetStreamLog } from './jetstream.js';
import type { ReconcileReport } from './reconcile.js';
import { secretIn } from './secret-file.js';

/** A command line that does not parse: the usage follows the message. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export const OPTIONS = {
  port: { type: 'string' },
  host: { type: 'string' },
  data: { type: 'string' },
  nats: { type: 'string' },
  stream: { type: 'string' },
  secret: { type: 'string' },
  client: { type: 'string' },
  pipeline: { type: 'string' },
  baseline: { type: 'string' },
  json: { type: 'boolean' },
  admin: { type: 'boolean' },
  reader: { type: 'string' },
  'idle-timeout': { type: 'string' },
  'views-for-clients': { type: 'boolean' },
  partitions: { type: 'string' },
  replicas: { type: 'string' },
  'lease-ttl': { type: 'string' },
  'reconcile-every': { type: 'string' },
  retention: { type: 'string' },
  global: { type: 'boolean' },
  'no-minify': { type: 'boolean' },
  name: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The parsed flags. */
export type Flags = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export const DEFAULT_DATA = './tidemark-data';

/** The data directory, created if missing. */
export function dataDir(flags: Flags): string {
  const dir = resolve(flags.data ?? DEFAULT_DATA);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** `serve`'s signing secret: the flag, the environment, or one generated once and kept in the data directory. */
export function serverSecret(flags: Flags): string {
  if (flags.secret) return flags.secret;
  if (process.env['TIDEMARK_SECRET']) return process.env['TIDEMARK_SECRET'];
  const { secret, created, file } = secretIn(dataDir(flags));
  if (created) console.error(`tidemark: created a signing secret in ${file} (keep it private; tokens depend on it)`);
  return secret;
}

/** The log for its writer (`serve`): the file log, locked, or a JetStream stream. */
export async function openLog(flags: Flags): Promise<EventLog> {
  if (flags.nats)
    return jetStreamLog({ servers: natsServers(flags.nats), replicas: replicas(flags), ...(flags.stream ? { stream: flags.stream } : {}) });
  return fileLog(join(dataDir(flags), 'log'));
}

/** The log for a reader (export, reconcile, replay): a snapshot of the file log, beside the server and without its lock. */
export async function readLog(flags: Flags): Promise<EventLog> {
  if (flags.nats) return jetStreamLog({ servers: natsServers(flags.nats), ...(flags.stream ? { stream: flags.stream } : {}) });
  return readFileLog(join(resolve(flags.data ?? DEFAULT_DATA), 'log'));
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration flag in ms: `30s`, `5m`, `1h`, `2d`, `250ms`; a bare number is seconds. */
export function duration(flag: string, text: string, min = 1): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 's']! : NaN;
  const max = flag === 'retention' ? Number.MAX_SAFE_INTEGER : 2_147_483_647;
  if (!(ms >= min && ms <= max))
    throw new UsageError(
      `--${flag} must be a duration like 30s, 5m, 1h or 2d (a bare number is seconds; ` +
        `${flag === 'retention' ? 'at least 1m' : 'at most 24d'}), got ${JSON.stringify(text)}`,
    );
  return ms;
}

/** The report as `POST /v1/reconcile` answers it: the global view as a count (it can be large). */
export function reportBody({ global, ...rest }: ReconcileReport) {
  return { ...rest, globalWindows: global.length };
}

const fmt = new Intl.NumberFormat('en-US');
export const plural = (n: number, one: string, many = `${one}s`) => `${fmt.format(n)} ${n === 1 ? one : many}`;

/** The reconcile report as a person reads it; `--json` prints the report itself. */
export function reconcileSummary(r: ReconcileReport): string {
  const lines = [
    `reconciled ${plural(r.events, 'event')} of ${plural(r.clients, 'client')} in ${Math.round(r.durationMs)} ms ` +
      `(${fmt.format(Math.round(r.eventsPerSecond))} events/s, ${plural(r.passes, 'pass', 'passes')} over the log)`,
    `  windows in the clients' batch views   ${fmt.format(r.windows)}`,
    `  uploaded windows compared            ${fmt.format(r.uploaded)}`,
    `  corrections written                  ${fmt.format(r.written)}`,
    `  differences already corrected        ${fmt.format(r.skipped)}`,
    `  windows over all clients together    ${fmt.format(r.global.length)}`,
  ];
  if (r.failures.length === 0) lines.push('  pipeline failures                    none');
  else
    for (const f of r.failures)
      lines.push(`  FAILED ${f.clientId === undefined ? 'the run over all clients' : `client ${f.clientId}`}: ${f.name}: ${f.message}`);
  return lines.join('\n');
}

/** `--nats`: one URL, or several separated by commas (the nodes of a cluster). */
export function natsServers(flag: string): string[] {
  const urls = flag.split(',').map((u) => u.trim()).filter((u) => u.length > 0);
  if (urls.length === 0) throw new UsageError('--nats needs a URL, e.g. nats://127.0.0.1:4222 (or several, separated by commas)');
  return urls;
}

/** `--replicas`: 1 (default), 3 or 5. */
export function replicas(flags: Flags): number {
  const n = flags.replicas === undefined ? 1 : Number(flags.replicas);
  if (![1, 3, 5].includes(n)) throw new UsageError(`--replicas must be 1, 3 or 5 (JetStream's replica counts), got ${flags.replicas}`);
  if (n > 1 && !flags.nats) throw new UsageError('--replicas is for --nats: the file log has no replicas');
  return n;
}
