/**
 * An {@link EventLog} in memory: for tests and for trying the server
 * without a disk. Nothing survives the process.
 *
 * @module
 */
import { RuntimeClosedError } from '../errors.js';
import type { WireEvent } from '../protocol/wire.js';
import { Coverage, progress } from '../host/ingest/coverage.js';
import type { AppendOutcome, ClientProgress, EventLog, LoggedEvent } from '../host/ingest/log.js';

/**
 * Creates an {@link EventLog} held in memory, with the same idempotent
 * ingest as the durable logs.
 *
 * @example
 * ```ts
 * import { memoryLog } from 'tidemark/server';
 * const log = memoryLog();
 * await log.append('c1', [{ seq: 2, ts: 0, data: 'b' }], Date.now());
 * const out = await log.append('c1', [{ seq: 1, ts: 0, data: 'a' }, { seq: 2, ts: 0, data: 'b' }], Date.now());
 * console.log(out); // { appended: 1, duplicates: 1, ackedThrough: 2, gaps: [] }
 * ```
 */
export function memoryLog(): EventLog {
  const clients = new Map<string, { coverage: Coverage; events: LoggedEvent[] }>();
  let bytes = 0;
  let total = 0;
  let closed = false;
  const open = () => {
    if (closed) throw new RuntimeClosedError('the log is closed');
  };
  return {
    async append(clientId: string, events: readonly WireEvent[], receivedAt: number): Promise<AppendOutcome> {
      open();
      let c = clients.get(clientId);
      if (!c) clients.set(clientId, (c = { coverage: new Coverage(), events: [] }));
      const fresh = c.coverage.fresh(events);
      for (const e of fresh) {
        c.events.push({ clientId, seq: e.seq, ts: e.ts, receivedAt, data: e.data });
        bytes += JSON.stringify(e.data)?.length ?? 4;
      }
      total += fresh.length;
      c.coverage.add(fresh.map((e) => e.seq));
      return {
        appended: fresh.length,
        duplicates: events.length - fresh.length,
        ackedThrough: c.coverage.through,
        gaps: c.coverage.gaps(),
      };
    },
    async *read(options?: { readonly clientId?: string }): AsyncIterable<readonly LoggedEvent[]> {
      open();
      for (const [id, c] of clients) {
        if (options?.clientId !== undefined && options.clientId !== id) continue;
        for (let i = 0; i < c.events.length; i += 4096) yield c.events.slice(i, i + 4096);
      }
    },
    clients(): readonly ClientProgress[] {
      return [...clients].map(([clientId, c]) => progress(clientId, c.coverage));
    },
    stats() {
      return { events: total, bytes, clients: clients.size };
    },
    async close() {
      closed = true;
    },
  };
}
