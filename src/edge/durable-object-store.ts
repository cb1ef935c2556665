/**
 * The edge runtime's storage over a Durable Object's transactional storage:
 * the outbox (one record per accepted client batch, numbered by partition
 * sequence), each client's sequence coverage (for de-duplication), the
 * forwarded position, and the checkpoint. The only file that touches the
 * Durable Object storage API, through the structural
 * {@link DurableObjectStorageLike} (no `@cloudflare/workers-types` needed).
 *
 * Layout (keys sort as strings, so sequences are zero-padded):
 * `m:next` last sequence handed out · `m:acked` forwarded through ·
 * `c:<clientId>` coverage · `o:<seq>` record header · `e:<seq>:<i>` its
 * events as JSON, in chunks · `k:meta` checkpoint header · `k:<i>` its
 * JSON chunks · `d:<seq>` events the upstream refused for good.
 *
 * Why one file over 300 lines: it is the only file touching the Durable
 * Object storage API, and its chunking, keys and transactions are shared by
 * every method.
 *
 * @module
 */
import type { CheckpointStore, EventStore, Checkpoint } from '../checkpoint/storage.js';
import { errorParts, StorageError } from '../errors.js';
import type { WireEvent } from '../protocol/wire.js';
import { Coverage } from '../host/ingest/coverage.js';
import type { AppendOutcome } from '../host/ingest/log.js';

/**
 * The part of a Durable Object's `state.storage` this store uses (the
 * key-value API, available on both the KV and the SQLite backend).
 */
export interface DurableObjectStorageLike {
  get(keys: string[]): Promise<Map<string, unknown>>;
  put(entries: Record<string, unknown>): Promise<void>;
  delete(keys: string[]): Promise<number>;
  list(options: { prefix?: string; start?: string; end?: string; limit?: number }): Promise<Map<string, unknown>>;
  transaction<T>(closure: (txn: DurableObjectTransactionLike) => Promise<T>): Promise<T>;
  getAlarm(): Promise<number | null>;
  setAlarm(scheduledTime: number): Promise<void>;
}

/** The operations used inside `storage.transaction(...)`. */
export interface DurableObjectTransactionLike {
  put(entries: Record<string, unknown>): Promise<void>;
  delete(keys: string[]): Promise<number>;
}

/** One client batch to append: the events the handler validated, and when they arrived. */
export interface EdgeBatch {
  readonly clientId: string;
  readonly events: readonly WireEvent[];
  readonly receivedAt: number;
}

/** One outbox record: the events of one batch this partition had not seen, numbered `seq..last`. */
export interface EdgeRecord {
  readonly seq: number;
  readonly last: number;
  readonly clientId: string;
  readonly receivedAt: number;
  readonly events: readonly WireEvent[];
}

/** What one append did: the client's outcome (as the server answers it) and the record, if any event was new. */
export interface EdgeReceipt {
  readonly outcome: AppendOutcome;
  readonly record: EdgeRecord | undefined;
}

/** The edge checkpoint: the pipeline snapshot, the view (latest panes), and the sequence both cover. */
export interface EdgeCheckpoint extends Checkpoint {
  readonly at: number;
  readonly view: readonly unknown[];
}

/** An event batch the upstream refused for good, kept with the reason. */
export interface EdgeDeadLetter {
  readonly record: EdgeRecord;
  readonly status: number;
  readonly reason: string;
}

/** The edge runtime's storage: the shared outbox and checkpoint contracts, plus what a partition needs besides. */
export interface EdgeStore extends EventStore<EdgeBatch, EdgeRecord, EdgeReceipt>, CheckpointStore<EdgeCheckpoint> {
  /** The last sequence handed out. */
  lastSeq(): number;
  /** Stores a record the upstream refused for good, and counts it as acknowledged. */
  deadLetter(letter: EdgeDeadLetter): Promise<void>;
  /** Number of records in the outbox (appended, not yet both forwarded and checkpointed). */
  records(): Promise<number>;
  /** When the next alarm is due (ms since the epoch), or `null`. */
  alarm(): Promise<number | null>;
  /** Schedules the alarm (replacing one already set). */
  setAlarm(at: number): Promise<void>;
}

/*
 * Production Durable Objects refuse values over 128 KiB and more than 128
 * keys per `put`/`get`/`delete`. JSON text is cut into chunks of 60 000
 * characters (at most 120 KB even when the string is stored two bytes per
 * character), and writes with more keys than a `put` takes go through
 * `transaction`, which commits them together.
 */
const CHUNK = 60_000;
const MAX_KEYS = 128;
const pad = (seq: number) => String(seq).padStart(16, '0');

interface RecordHeader {
  readonly seq: number;
  readonly last: number;
  readonly clientId: string;
  readonly receivedAt: number;
  readonly chunks: number;
}
interface CheckpointHeader {
  readonly seq: number;
  readonly at: number;
  readonly chunks: number;
}
interface StoredCoverage {
  readonly through: number;
  readonly above: [number, number][];
  readonly count: number;
}

/**
 * Opens the edge store over a Durable Object's storage (or
 * {@link memoryStorage}). Reads its small counters once; client coverage is
 * read on a client's first batch and kept in memory.
 *
 * @param storage - `state.storage` of the Durable Object
 * @throws `StorageError` when storage fails (here or in any later call)
 * @example
 * ```ts
 * import { openDurableObjectStore, type DurableObjectStateLike } from 'tidemark/edge';
 * export class Counter {
 *   constructor(private readonly state: DurableObjectStateLike) {}
 *   async fetch(): Promise<Response> {
 *     const store = await openDurableObjectStore(this.state.storage);
 *     const [r] = await store.append([{ clientId: 'c1', events: [{ seq: 1, ts: 0, data: 'a' }], receivedAt: Date.now() }]);
 *     return Response.json(r!.outcome); // { appended: 1, duplicates: 0, ackedThrough: 1, gaps: [] } the first time
 *   }
 * }
 * ```
 */
export async function openDurableObjectStore(storage: DurableObjectStorageLike): Promise<EdgeStore> {
  const guard = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (e) {
      throw new StorageError(`Durable Object storage failed to ${what}: ${errorParts(e).message}`);
    }
  };
  const head = await guard('read the partition counters', () => storage.get(['m:next', 'm:acked', 'k:meta']));
  let next = (head.get('m:next') as number | undefined) ?? 0;
  let acked = (head.get('m:acked') as number | undefined) ?? 0;
  const meta = head.get('k:meta') as CheckpointHeader | undefined;
  let checkpointed = meta?.seq ?? 0;
  /** Chunks of the stored checkpoint: this store is its only writer, so it need not read them back. */
  let checkpointChunks = meta?.chunks ?? 0;
  let pruned = 0;
  const coverage = new Map<string, Coverage>();

  async function getMany(keys: string[]): Promise<Map<string, unknown>> {
    const out = new Map<string, unknown>();
    for (let i = 0; i < keys.length; i += MAX_KEYS)
      for (const [k, v] of await storage.get(keys.slice(i, i + MAX_KEYS))) out.set(k, v);
    return out;
  }

  /** Writes `entries` and deletes `deletes` atomically. */
  async function write(entries: Record<string, unknown>, deletes: string[] = []): Promise<void> {
    const keys = Object.keys(entries);
    if (deletes.length === 0 && keys.length <= MAX_KEYS) return storage.put(entries);
    await storage.transaction(async (txn) => {
      for (let i = 0; i < keys.length; i += MAX_KEYS)
        await txn.put(Object.fromEntries(keys.slice(i, i + MAX_KEYS).map((k) => [k, entries[k]])));
      for (let i = 0; i < deletes.length; i += MAX_KEYS) await txn.delete(deletes.slice(i, i + MAX_KEYS));
    });
  }

  async function coverageOf(clientId: string): Promise<Coverage> {
    let c = coverage.get(clientId);
    if (c) return c;
    const stored = (await storage.get([`c:${clientId}`])).get(`c:${clientId}`) as StoredCoverage | undefined;
    c = stored ? copy(stored) : new Coverage();
    coverage.set(clientId, c);
    return c;
  }

  /** A coverage with its own ranges, from a stored one or one in use (an append works on copies until it commits). */
  const copy = (c: StoredCoverage): Coverage => {
    const out = new Coverage();
    out.through = c.through;
    out.above = c.above.map(([a, b]) => [a, b]);
    out.count = c.count;
    return out;
  };

  function chunksOf(text: string, key: (i: number) => string, into: Record<string, unknown>): number {
    let n = 0;
    for (let at = 0; at < text.length || n === 0; at += CHUNK) into[key(n++)] = text.slice(at, at + CHUNK);
    return n;
  }

  /** Deletes the records both forwarded and checkpointed. */
  async function prune(): Promise<void> {
    const bound = Math.min(acked, checkpointed);
    if (bound <= pruned) return;
    const headers = await storage.list({ prefix: 'o:', end: `o:${pad(bound + 1)}` });
    const deletes: string[] = [];
    for (const [k, h] of headers as Map<string, RecordHeader>) {
      if (h.last > bound) break;
      deletes.push(k);
      for (let i = 0; i < h.chunks; i++) deletes.push(`e:${pad(h.seq)}:${i}`);
    }
    if (deletes.length > 0) await write({}, deletes); // headers and chunks go together: no header without its events
    pruned = bound;
  }

  return {
    lastSeq: () => next,

    append: (batches) =>
      guard('append to the outbox', async () => {
        const working = new Map<string, Coverage>();
        const entries: Record<string, unknown> = {};
        const receipts: EdgeReceipt[] = [];
        let seq = next;
        for (const b of batches) {
          const c = working.get(b.clientId) ?? copy(await coverageOf(b.clientId));
          working.set(b.clientId, c);
          const fresh = c.fresh(b.events);
          c.add(fresh.map((e) => e.seq));
          let record: EdgeRecord | undefined;
          if (fresh.length > 0) {
            record = { seq: seq + 1, last: seq + fresh.length, clientId: b.clientId, receivedAt: b.receivedAt, events: fresh };
            seq = record.last;
            const chunks = chunksOf(JSON.stringify(fresh), (i) => `e:${pad(record!.seq)}:${i}`, entries);
            const header: RecordHeader = { seq: record.seq, last: record.last, clientId: b.clientId, receivedAt: b.receivedAt, chunks };
            entries[`o:${pad(record.seq)}`] = header;
          }
          const outcome: AppendOutcome = {
            appended: fresh.length,
            duplicates: b.events.length - fresh.length,
            ackedThrough: c.through,
            gaps: c.gaps(),
          };
          receipts.push({ outcome, record });
        }
        if (seq === next) return receipts; // all duplicates: nothing to write
        for (const [id, c] of working) entries[`c:${id}`] = { through: c.through, above: c.above, count: c.count } satisfies StoredCoverage;
        entries['m:next'] = seq;
        // Records, coverage and the counter commit together: a retried batch
        // finds its events covered exactly when they are in the outbox.
        await write(entries);
        next = seq;
        for (const [id, c] of working) coverage.set(id, c);
        return receipts;
      }),

    readAfter: (seq, maxRecords) =>
      guard('read the outbox', async () => {
        const headers = [...((await storage.list({ prefix: 'o:', start: `o:${pad(seq + 1)}`, limit: maxRecords })) as Map<string, RecordHeader>).values()];
        const keys = headers.flatMap((h) => Array.from({ length: h.chunks }, (_, i) => `e:${pad(h.seq)}:${i}`));
        const chunks = await getMany(keys);
        return headers.map((h) => {
          let text = '';
          for (let i = 0; i < h.chunks; i++) {
            const part = chunks.get(`e:${pad(h.seq)}:${i}`);
            if (typeof part !== 'string') throw new Error(`chunk ${i} of outbox record ${h.seq} is missing`);
            text += part;
          }
          return { seq: h.seq, last: h.last, clientId: h.clientId, receivedAt: h.receivedAt, events: JSON.parse(text) as WireEvent[] };
        });
      }),

    acked: async () => acked,

    ack: (seq) =>
      guard('record the forwarded position', async () => {
        if (seq <= acked) return;
        await write({ 'm:acked': seq });
        acked = seq;
        await prune();
      }),

    deadLetter: ({ record, status, reason }) =>
      guard('store a refused batch', async () => {
        const entries: Record<string, unknown> = { [`d:${pad(record.seq)}`]: { record, status, reason } };
        if (record.last > acked) entries['m:acked'] = record.last;
        await write(entries);
        acked = Math.max(acked, record.last);
        await prune();
      }),

    loadCheckpoint: () =>
      guard('read the checkpoint', async () => {
        const header = (await storage.get(['k:meta'])).get('k:meta') as CheckpointHeader | undefined;
        if (!header) return undefined;
        const chunks = await getMany(Array.from({ length: header.chunks }, (_, i) => `k:${i}`));
        let text = '';
        for (let i = 0; i < header.chunks; i++) text += chunks.get(`k:${i}`) as string;
        const body = JSON.parse(text) as Pick<EdgeCheckpoint, 'snapshot' | 'view'>;
        return { seq: header.seq, at: header.at, snapshot: body.snapshot, view: body.view };
      }),

    writeCheckpoint: (checkpoint) =>
      guard('write the checkpoint', async () => {
        const entries: Record<string, unknown> = {};
        const chunks = chunksOf(JSON.stringify({ snapshot: checkpoint.snapshot, view: checkpoint.view }), (i) => `k:${i}`, entries);
        entries['k:meta'] = { seq: checkpoint.seq, at: checkpoint.at, chunks } satisfies CheckpointHeader;
        const stale = Array.from({ length: Math.max(0, checkpointChunks - chunks) }, (_, i) => `k:${chunks + i}`);
        // Snapshot, view and position in one commit: a restart restores a
        // snapshot exactly as far as the position says.
        await write(entries, stale);
        checkpointed = checkpoint.seq;
        checkpointChunks = chunks;
        await prune();
      }),

    records: () => guard('count the outbox', async () => (await storage.list({ prefix: 'o:' })).size),
    alarm: () => guard('read the alarm', () => storage.getAlarm()),
    setAlarm: (at) => guard('set the alarm', () => storage.setAlarm(at)),
  };
}
