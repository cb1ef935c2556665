/**
 * Reading the log for the batch layer (reconcile and replay) in passes that
 * hold a bounded number of events: one pass per group of clients.
 *
 * Memory bound: a pass holds at most `maxEvents` events (a reference to
 * each event's data), except that one client's events are always held
 * together, however many. When the whole log fits, one pass reads it all.
 * Batch runs hold their watermarks until the end, so no pass needs the
 * events in any order.
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

  constructor(readonly clientId: string) {}

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
 * Reads the listed clients' events in groups of at most `maxEvents` events
 * (a client with more makes a group alone), one pass per group, and yields
 * each group, its clients in the listed order. A client alone in its group
 * is read with `read({ clientId })`, which an indexed log answers without a
 * full scan. Events of clients not listed (they appeared after the list
 * was taken) are skipped.
 */
export async function* clientGroups(
  log: EventLog,
  clients: readonly ClientProgress[],
  maxEvents: number,
  stats: ReadStats,
): AsyncGenerator<ClientEvents[]> {
  const groups: ClientProgress[][] = [];
  let size = Infinity;
  for (const c of clients) {
    if (size + c.events > maxEvents || groups.length === 0) {
      groups.push([]);
      size = 0;
    }
    groups[groups.length - 1]!.push(c);
    size += c.events;
  }
  for (const group of groups) {
    const loaded = new Map<string, ClientEvents>(group.map((c) => [c.clientId, new ClientEvents(c.clientId)]));
    stats.passes++;
    const source = group.length === 1 ? log.read({ clientId: group[0]!.clientId }) : log.read();
    let lastId: string | undefined;
    let target: ClientEvents | undefined;
    for await (const chunk of source) {
      for (const e of chunk) {
        // Logs hand out runs of one client: look the client up once per run.
        if (e.clientId !== lastId) {
          lastId = e.clientId;
          target = loaded.get(lastId);
        }
        if (target) target.data.push(e.data);
      }
    }
    const out = [...loaded.values()];
    for (const c of out) stats.events += c.length;
    yield out;
  }
}
