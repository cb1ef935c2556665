/**
 * The server log's interface: what the ingest handler and the batch layer
 * need from a log, whichever backs it (the embedded file log, NATS
 * JetStream, or memory for tests).
 *
 * @module
 */
import { describe, ProtocolError } from '../../errors.js';
import { requireClientId } from '../../protocol/validate.js';
import type { WireEvent } from '../../protocol/wire.js';

/** One event as the log holds it: who sent it, its sequence, event time, arrival time and data. */
export interface LoggedEvent {
  readonly clientId: string;
  readonly seq: number;
  /** Event time (ms), as the client's pipeline read it; `null` when it could not. */
  readonly ts: number | null;
  /** When the server received it (`Date.now()` on the server): clock skew stays visible. */
  readonly receivedAt: number;
  readonly data: unknown;
}

/** What one append did: see `IngestResponse` in `tidemark/protocol`. */
export interface AppendOutcome {
  readonly appended: number;
  readonly duplicates: number;
  readonly ackedThrough: number;
  readonly gaps: readonly (readonly [number, number])[];
}

/** One client's progress in the log. */
export interface ClientProgress {
  readonly clientId: string;
  /** Every sequence number up to this one is held. */
  readonly ackedThrough: number;
  /** The highest sequence number held. */
  readonly highest: number;
  /** Events held. */
  readonly events: number;
  /** Sequence numbers missing below `highest`. */
  readonly missing: number;
}

/**
 * A durable, append-only log of client events with exact, idempotent
 * ingest: an event is held at most once per `(clientId, seq)`, whatever the
 * order or number of times it is sent.
 *
 * @example
 * ```ts
 * import { memoryLog, type EventLog } from 'tidemark/server';
 * const log: EventLog = memoryLog();
 * const out = await log.append('c1', [{ seq: 1, ts: 10, data: { n: 1 } }], Date.now());
 * console.log(out.appended, out.ackedThrough); // 1 1
 * ```
 */
export interface EventLog {
  /**
   * Appends the events of one client that the log does not hold yet, all or
   * nothing, and resolves once they are durable. `events` are sorted by
   * strictly increasing `seq` (as `parseIngest` checks).
   */
  append(clientId: string, events: readonly WireEvent[], receivedAt: number): Promise<AppendOutcome>;
  /**
   * Reads the log in chunks: every event once, each client's events in the
   * order they were appended (sequence order, unless batches arrived out of
   * order); clients may interleave. Only one client's with `clientId`.
   * Events appended while reading may be missed.
   */
  read(options?: { readonly clientId?: string }): AsyncIterable<readonly LoggedEvent[]>;
  /** Progress of every client, in the order they first appeared. */
  clients(): readonly ClientProgress[];
  /** Totals: events held, bytes used, clients. */
  stats(): { readonly events: number; readonly bytes: number; readonly clients: number };
  /** Flushes and releases the log; later calls reject. */
  close(): Promise<void>;
}

/**
 * Checks `append`'s arguments the way the durable logs do before touching
 * any state: a client id, sequence numbers that are whole, ≥ 1 and strictly
 * increasing (what `Coverage` relies on), finite event times and a finite
 * `receivedAt`. The ingest handler has run `parseIngest` already, but
 * `append` is public, and a batch out of order would corrupt a client's
 * coverage on disk. One pass of type checks per event: small next to
 * encoding it. Throws a `400` {@link ProtocolError} naming the field.
 *
 * @internal
 */
export function checkAppend(clientId: string, events: readonly WireEvent[], receivedAt: number): void {
  requireClientId(clientId);
  if (!Array.isArray(events)) throw new ProtocolError(400, `expected an array of {seq, ts, data}, got ${describe(events)}`, 'events');
  let last = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as Partial<WireEvent> | null;
    const seq = e?.seq;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq <= last)
      throw new ProtocolError(
        400,
        `must be a whole number >= 1, strictly increasing (after ${last}), got ${describe(seq)}`,
        `events[${i}].seq`,
      );
    last = seq;
    if (e?.ts !== null && (typeof e?.ts !== 'number' || !Number.isFinite(e.ts)))
      throw new ProtocolError(400, `must be a finite number (event time in ms) or null, got ${describe(e?.ts)}`, `events[${i}].ts`);
  }
  if (typeof receivedAt !== 'number' || !Number.isFinite(receivedAt))
    throw new ProtocolError(400, `must be a finite number (ms), got ${describe(receivedAt)}`, 'receivedAt');
}
