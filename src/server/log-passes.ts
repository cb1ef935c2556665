/**
 * Reading the log for the batch layer (reconcile and replay) in passes that
 * hold a bounded number of events.
 *
 * A pass reads the whole log once and hands each client over as soon as it
 * holds all of the client's events (as many as `EventLog.clients()` listed),
 * so a log that keeps each client's events together (the memory log; a file
 * log written a client at a time) is read in one pass holding about one
 * client's events at a time. Memory bound: a client is taken into a pass at
 * its first event only while the events of the clients taken and not handed
 * over yet stay within `maxEvents` (one client is always taken, however
 * many it has); the others wait for a later pass, so a log whose clients
 * interleave takes several. A client with more than `maxEvents` events is
 * read alone with `read({ clientId })`, which an indexed log answers
 * without a full scan. Batch runs hold their watermarks until the end, so
 * no pass needs the events in any order.
 *
 * @internal
 * @module
 */
import type { ClientProgress, EventLog } from '../host/ingest/log.js';

/** The default `maxEventsInMemory` of reconcile and replay. */
export const DEFAULT_MAX_EVENTS = 2_000_000;

/**
 * One client's events as read from the log, in read order. A batch run
 * (`RunOptions.mode: 'batch'`) holds every watermark until the end, so the
 * order does not matter: nothing is sorted.
 */
export class ClientEvents {
  data: unknown[] = [];

  constructor(
    readonly clientId: string,
    /** How many events the log listed for the client when the read began. */
    readonly expected: number,
  ) {}

  get length(): number {
    return this.data.length;
  }

  /** Drops the events (once they have been run). */
  release(): void {
    this.data = [];
  }
}

/** Counters of the reads, for reports. */
export interface ReadStats {
  /** Passes over the log (or one client's part of it). */
  passes: number;
  /** Events read by the per-client passes. */
  events: number;
}

/**
 * Reads the listed clients' events in as few passes as `maxEvents` allows
 * (see the module comment) and yields each client once, with all its
 * events, as soon as it is complete; clients the log holds no event of
 * come last. Events of clients not listed (they appeared after the list was
 * taken) are skipped, and so are a client's events beyond those listed
 * (appended while reading: the log's `read` may miss those anyway).
 */
export async function* clientGroups(
  log: EventLog,
  clients: readonly ClientProgress[],
  maxEvents: number,
  stats: ReadStats,
): AsyncGenerator<ClientEvents[]> {
  const emit = (c: ClientEvents) => {
    stats.events += c.length;
    return [c];
  };
  // Larger than the bound: alone, each in a pass of its own.
  for (const c of clients)
    if (c.events > maxEvents) {
      stats.passes++;
      const target = new ClientEvents(c.clientId, c.events);
      for await (const chunk of log.read({ clientId: c.clientId }))
        for (let i = 0; i < chunk.length && target.data.length < c.events; i++) if (chunk[i]!.clientId === c.clientId) target.data.push(chunk[i]!.data);
      yield emit(target);
    }
  // The others: pending until a pass takes them, held while taken.
  let pending = new Map<string, ClientProgress>(clients.filter((c) => c.events <= maxEvents).map((c) => [c.clientId, c]));
  while (pending.size > 0) {
    stats.passes++;
    const taken = new Map<string, ClientEvents>();
    const skipped = new Set<string>();
    const done = new Set<string>();
    let held = 0; // events of the clients taken and not yielded yet, as listed
    let lastId: string | undefined;
    let target: ClientEvents | undefined;
    for await (const chunk of log.read()) {
      // Indexed, not for-of: in an async generator, for-of allocated an iterator result per event.
      for (let i = 0; i < chunk.length; i++) {
        const e = chunk[i]!;
        // Logs hand out runs of one client: look the client up once per run.
        if (e.clientId !== lastId) {
          lastId = e.clientId;
          target = taken.get(lastId);
          if (!target && !skipped.has(lastId) && !done.has(lastId)) {
            const c = pending.get(lastId);
            if (c && (held === 0 || held + c.events <= maxEvents)) {
              taken.set(lastId, (target = new ClientEvents(lastId, c.events)));
              held += c.events;
            } else if (c) skipped.add(lastId);
          }
        }
        if (!target) continue;
        target.data.push(e.data);
        if (target.data.length >= target.expected) {
          // Complete: hand it over now, so that its events can go before the next client's arrive.
          const complete = target;
          taken.delete(complete.clientId);
          done.add(complete.clientId);
          held -= complete.expected;
          lastId = undefined;
          target = undefined;
          yield emit(complete);
        }
      }
    }
    // Taken but short of what was listed (events the read did not return), then those with no event at all.
    for (const c of taken.values()) {
      done.add(c.clientId);
      yield emit(c);
    }
    const next = new Map<string, ClientProgress>();
    for (const [id, c] of pending) {
      if (done.has(id)) continue;
      if (skipped.has(id)) next.set(id, c);
      else yield emit(new ClientEvents(id, c.events));
    }
    pending = next;
  }
}
