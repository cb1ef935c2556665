/**
 * The worker's settings: `serveRuntime` options validated eagerly (with
 * messages that say how to fix them) and resolved to their defaults, and
 * the byte estimate behind the outbox's size limit.
 *
 * @module
 */
import { describe, InvalidOptionError } from '../errors.js';
import {
  optionalFunction,
  rejectUnknown,
  requireFunction,
  requireObject,
  requirePositive,
  requirePositiveInteger,
  requireTimerMs,
} from '../options.js';
import type { Columns, Encoding, Payload } from './contract.js';
import { LIMITS } from '../protocol/wire.js';
import type { OutboxLimits } from './outbox-store.js';
import type { ServeRuntimeOptions } from './runtime-options.js';
import type { UploadSettings } from './uploader.js';

const KNOWN = ['name', 'pipeline', 'row', 'checkpoint', 'outbox', 'view', 'openTimeoutMs', 'transactionTimeoutMs', 'upload', 'timestamp'] as const;
const NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** What the worker runs with. */
export interface Settings {
  readonly name: string;
  readonly everyEvents: number;
  readonly everyMs: number;
  readonly limits: OutboxLimits;
  readonly viewMaxWindows: number;
  readonly openTimeoutMs: number;
  readonly transactionTimeoutMs: number;
  readonly upload: UploadSettings;
}

/** Validates `serveRuntime` options and fills in the defaults. */
export function validate<E, R, C extends Columns>(options: ServeRuntimeOptions<E, R, C>): Settings {
  requireObject('serveRuntime(options)', options);
  rejectUnknown('serveRuntime', options, KNOWN);
  if (typeof options.name !== 'string' || !NAME.test(options.name))
    throw new InvalidOptionError(
      'serveRuntime.name',
      `must be 1-64 characters of A-Z a-z 0-9 . _ -, got ${describe(options.name)}`,
    );
  requireFunction('serveRuntime.pipeline', options.pipeline, 'pass (events$) => events$.pipe(eventTime(...), windowBy(...))');
  optionalFunction('serveRuntime.row', options.row);
  const checkpoint = options.checkpoint ?? {};
  requireObject('serveRuntime.checkpoint', checkpoint);
  rejectUnknown('serveRuntime.checkpoint', checkpoint, ['everyEvents', 'everyMs']);
  const outbox = options.outbox ?? {};
  requireObject('serveRuntime.outbox', outbox);
  rejectUnknown('serveRuntime.outbox', outbox, ['maxEvents', 'maxBytes', 'maxAgeMs', 'policy']);
  const view = options.view ?? {};
  requireObject('serveRuntime.view', view);
  rejectUnknown('serveRuntime.view', view, ['maxWindows']);
  optionalFunction('serveRuntime.timestamp', options.timestamp);
  const upload = options.upload ?? {};
  requireObject('serveRuntime.upload', upload);
  rejectUnknown('serveRuntime.upload', upload, ['maxBatchBytes', 'minBackoffMs', 'maxBackoffMs', 'requestTimeoutMs', 'correctionsEveryMs']);
  const settings: Settings = {
    name: options.name,
    everyEvents: checkpoint.everyEvents ?? 100_000,
    everyMs: checkpoint.everyMs ?? 1_000,
    limits: {
      maxEvents: outbox.maxEvents ?? 1_000_000,
      maxBytes: outbox.maxBytes ?? 64 * 1024 * 1024,
      maxAgeMs: outbox.maxAgeMs ?? 7 * 24 * 3600_000,
      policy: outbox.policy ?? 'drop-oldest',
    },
    viewMaxWindows: view.maxWindows ?? 100_000,
    openTimeoutMs: options.openTimeoutMs ?? 10_000,
    transactionTimeoutMs: options.transactionTimeoutMs ?? 15_000,
    upload: {
      maxBatchBytes: upload.maxBatchBytes ?? 512 * 1024,
      minBackoffMs: upload.minBackoffMs ?? 500,
      maxBackoffMs: upload.maxBackoffMs ?? 60_000,
      requestTimeoutMs: upload.requestTimeoutMs ?? 30_000,
      correctionsEveryMs: upload.correctionsEveryMs ?? 10_000,
    },
  };
  requirePositiveInteger('serveRuntime.checkpoint.everyEvents', settings.everyEvents);
  requireTimerMs('serveRuntime.checkpoint.everyMs', settings.everyMs);
  requirePositiveInteger('serveRuntime.outbox.maxEvents', settings.limits.maxEvents);
  requirePositiveInteger('serveRuntime.outbox.maxBytes', settings.limits.maxBytes);
  requirePositive('serveRuntime.outbox.maxAgeMs', settings.limits.maxAgeMs);
  if (settings.limits.policy !== 'reject' && settings.limits.policy !== 'drop-oldest')
    throw new InvalidOptionError(
      'serveRuntime.outbox.policy',
      `must be 'reject' or 'drop-oldest', got ${describe(settings.limits.policy)}`,
    );
  requirePositiveInteger('serveRuntime.view.maxWindows', settings.viewMaxWindows);
  requireTimerMs('serveRuntime.openTimeoutMs', settings.openTimeoutMs);
  requireTimerMs('serveRuntime.transactionTimeoutMs', settings.transactionTimeoutMs);
  const u = settings.upload;
  requirePositiveInteger('serveRuntime.upload.maxBatchBytes', u.maxBatchBytes);
  if (u.maxBatchBytes > LIMITS.maxBodyBytes - 65_536)
    throw new InvalidOptionError(
      'serveRuntime.upload.maxBatchBytes',
      `must leave room under the server's body limit: at most ${LIMITS.maxBodyBytes - 65_536}, got ${u.maxBatchBytes}`,
    );
  requireTimerMs('serveRuntime.upload.minBackoffMs', u.minBackoffMs);
  requireTimerMs('serveRuntime.upload.maxBackoffMs', u.maxBackoffMs);
  if (u.maxBackoffMs < u.minBackoffMs)
    throw new InvalidOptionError('serveRuntime.upload.maxBackoffMs', `must be >= minBackoffMs (${u.minBackoffMs}), got ${u.maxBackoffMs}`);
  requireTimerMs('serveRuntime.upload.requestTimeoutMs', u.requestTimeoutMs);
  requireTimerMs('serveRuntime.upload.correctionsEveryMs', u.correctionsEveryMs);
  return settings;
}

/**
 * Estimated stored size of a batch, for the outbox's byte limit: exact for
 * JSON strings and typed-array columns; for objects, the JSON length of up to 16 evenly
 * spaced events, scaled (serialising every event would double the cost of
 * an append).
 */
export function estimateBytes(events: Payload, encoding: Encoding): number {
  if (typeof events === 'string') return events.length;
  if (encoding === 'columns') {
    let bytes = 0;
    for (const column of Object.values(events as Columns) as unknown[]) {
      if (ArrayBuffer.isView(column)) bytes += column.byteLength;
      else if (Array.isArray(column)) bytes += sampleBytes(column);
    }
    return bytes;
  }
  return sampleBytes(events as readonly unknown[]);
}

function sampleBytes(values: readonly unknown[]): number {
  const n = values.length;
  if (n === 0) return 0;
  const samples = Math.min(n, 16);
  let sampled = 0;
  for (let i = 0; i < samples; i++) {
    const v = values[Math.floor((i * n) / samples)];
    let size: number;
    try {
      size = JSON.stringify(v)?.length ?? 8;
    } catch {
      size = 64; // BigInt, cycles: structured clone stores them; count a typical size
    }
    sampled += size;
  }
  return Math.ceil((sampled / samples) * n);
}
