/**
 * The JetStream log's options, validated eagerly with messages that say how
 * to fix them.
 *
 * @module
 */
import type { NodeConnectionOptions } from '@nats-io/transport-node';
import { describe, InvalidOptionError } from '../errors.js';
import { rejectUnknown, requireFunction, requireObject, requirePositiveInteger, requireTimerMs } from '../options.js';
import type { Clock } from '../time/clock.js';
import { HEADER_RESERVE, requireStreamName, requireSubjectPrefix } from './jetstream-format.js';

/** Options of {@link jetStreamLog}. */
export interface JetStreamLogOptions {
  /** NATS server URL(s), e.g. `nats://127.0.0.1:4222`. */
  readonly servers: string | readonly string[];
  /** The stream's name; created (file storage) when it does not exist. Default `'TIDEMARK'`. */
  readonly stream?: string;
  /** Events go to `<subjectPrefix>.events.<clientId>`. Default `'tidemark'`. */
  readonly subjectPrefix?: string;
  /**
   * Replicas of a stream this log creates: 1 for one nats-server, 3 (or 5)
   * on a JetStream cluster, so that the log survives losing a node. An
   * existing stream with fewer is refused. Default 1.
   */
  readonly replicas?: number;
  /**
   * The duplicate window of a stream this log creates (ms). Default 120 000
   * (two minutes). An existing stream whose window is shorter than twice
   * `timeoutMs` is refused: a publish retried after a timeout must still
   * fall inside it.
   */
  readonly duplicateWindowMs?: number;
  /**
   * How long a request to JetStream (a publish, a read of a subject's last
   * message) may take before the append rejects with a {@link StorageError}
   * (ms). Default 5 000.
   */
  readonly timeoutMs?: number;
  /**
   * Every this many ms, read the stream's size and pick up what other
   * processes appended, for `clients()` and `stats()`; `0` turns it off
   * (call `refresh()` instead). Appends never depend on it. Default 5 000.
   */
  readonly refreshMs?: number;
  /**
   * Largest message to publish (bytes, headers included); larger batches are
   * split. Default and upper bound: the server's `max_payload` (and the
   * stream's `max_msg_size` when set).
   */
  readonly maxMessageBytes?: number;
  /**
   * Further connection options for `@nats-io/transport-node`'s `connect`
   * (credentials, TLS, name…). By default the connection reconnects forever,
   * every 500 ms.
   */
  readonly connection?: Omit<NodeConnectionOptions, 'servers'>;
  /**
   * Paces the refresh (`refreshMs`) and bounds how long `close()` drains.
   * Default: the platform's timers, which do not keep a Node process alive
   * on their own.
   */
  readonly clock?: Clock;
}

const KNOWN = [
  'servers',
  'stream',
  'subjectPrefix',
  'duplicateWindowMs',
  'replicas',
  'timeoutMs',
  'refreshMs',
  'maxMessageBytes',
  'connection',
  'clock',
] as const;

/** The options resolved to their defaults. @internal */
export interface Settings {
  readonly servers: string[];
  readonly stream: string;
  readonly prefix: string;
  readonly duplicateWindowMs: number;
  readonly replicas: number;
  readonly timeoutMs: number;
  readonly refreshMs: number;
  readonly maxMessageBytes: number | undefined;
  readonly connection: Omit<NodeConnectionOptions, 'servers'>;
  readonly clock: Clock;
}

/** Validates `jetStreamLog` options and fills in the defaults. @internal */
export function validate(options: JetStreamLogOptions): Settings {
  requireObject('jetStreamLog(options)', options);
  rejectUnknown('jetStreamLog', options, KNOWN);
  const servers = typeof options.servers === 'string' ? [options.servers] : options.servers;
  if (!Array.isArray(servers) || servers.length === 0 || !servers.every((s) => typeof s === 'string' && s.length > 0))
    throw new InvalidOptionError(
      'jetStreamLog.servers',
      `expected a NATS URL or a non-empty array of them (e.g. 'nats://127.0.0.1:4222'), got ${describe(options.servers)}`,
    );
  const s: Settings = {
    servers: [...servers],
    stream: requireStreamName('jetStreamLog.stream', options.stream ?? 'TIDEMARK'),
    prefix: requireSubjectPrefix('jetStreamLog.subjectPrefix', options.subjectPrefix ?? 'tidemark'),
    duplicateWindowMs: options.duplicateWindowMs ?? 120_000,
    replicas: options.replicas ?? 1,
    timeoutMs: options.timeoutMs ?? 5_000,
    refreshMs: options.refreshMs ?? 5_000,
    maxMessageBytes: options.maxMessageBytes,
    connection: options.connection ?? {},
    clock: options.clock ?? backgroundClock,
  };
  if (options.clock !== undefined) {
    requireObject('jetStreamLog.clock', options.clock);
    requireFunction('jetStreamLog.clock.now', options.clock.now, 'pass a Clock such as systemClock or a virtual clock');
    requireFunction('jetStreamLog.clock.timeout', options.clock.timeout, 'pass a Clock such as systemClock or a virtual clock');
  }
  requireTimerMs('jetStreamLog.duplicateWindowMs', s.duplicateWindowMs);
  requireTimerMs('jetStreamLog.timeoutMs', s.timeoutMs);
  if (![1, 3, 5].includes(s.replicas))
    throw new InvalidOptionError('jetStreamLog.replicas', `expected 1, 3 or 5 (JetStream's replica counts), got ${describe(options.replicas)}`);
  if (s.refreshMs !== 0) requireTimerMs('jetStreamLog.refreshMs', s.refreshMs);
  if (s.maxMessageBytes !== undefined) {
    requirePositiveInteger('jetStreamLog.maxMessageBytes', s.maxMessageBytes);
    if (s.maxMessageBytes < HEADER_RESERVE + 1024)
      throw new InvalidOptionError(
        'jetStreamLog.maxMessageBytes',
        `must be at least ${HEADER_RESERVE + 1024} (${HEADER_RESERVE} bytes are kept for headers), got ${s.maxMessageBytes}`,
      );
  }
  requireObject('jetStreamLog.connection', s.connection);
  return s;
}

/** The platform's clock, whose timers do not keep a Node process alive on their own (`unref`). @internal */
export const backgroundClock: Clock = {
  now: () => Date.now(),
  timeout(fn, ms) {
    const handle = setTimeout(fn, ms) as unknown as { unref?: () => void };
    handle.unref?.();
    return () => clearTimeout(handle as unknown as ReturnType<typeof setTimeout>);
  },
};
