/**
 * The runtime's IndexedDB storage: the outbox (events in sequence order),
 * the checkpoint (pipeline snapshot + view + the sequence it covers) and a
 * few counters, all in one database so that a checkpoint and its outbox
 * position commit in one transaction. The only file that imports `idb`.
 *
 * @module
 */
import { type DBSchema, type IDBPDatabase, type IDBPTransaction, openDB } from 'idb';
import type { PipelineSnapshot } from '../checkpoint/snapshot.js';
import type { CheckpointStore, EventStore } from '../checkpoint/storage.js';
import { errorParts, LeadershipLost, StorageError, TimeoutError } from '../errors.js';
import type { Correction } from '../protocol/wire.js';
import type { AppendReceipt, Encoding, Payload } from './contract.js';

/** One outbox record: one page batch. */
export interface OutboxRecord {
  /** Sequence number of the first event (the key). */
  readonly seq: number;
  /** Sequence number of the last event. */
  readonly last: number;
  /** The events, as `encoding` says. */
  readonly events: Payload;
  readonly encoding: Encoding;
  /** Id of the page batch stored here (its entry in the `batches` store makes re-sends idempotent). */
  readonly batch: string;
  /** Estimated size in bytes. */
  readonly bytes: number;
  /** When it was appended (`Date.now()`). */
  readonly at: number;
}

/** What a checkpoint stores. */
export interface StoredCheckpoint {
  /** Every event up to this sequence number is reflected in `snapshot` and `view`. */
  readonly seq: number;
  readonly at: number;
  readonly snapshot: PipelineSnapshot;
  readonly view: unknown;
}

/** Outbox bounds and what to do when an append would exceed them. */
export interface OutboxLimits {
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  readonly policy: 'reject' | 'drop-oldest';
}

/** Counters kept beside the outbox. */
export interface OutboxTotals {
  readonly events: number;
  readonly bytes: number;
  readonly records: number;
  readonly dropped: number;
  readonly expired: number;
  readonly refused: number;
}

/** A batch to append. */
export interface PendingBatch {
  readonly id: string;
  readonly events: Payload;
  readonly encoding: Encoding;
  readonly length: number;
  readonly bytes: number;
  /** `true` when the page sent it before (after a worker restart): it may be stored already. */
  readonly resent: boolean;
}

interface Meta {
  clientId: string;
  /** Last sequence number handed out. */
  seq: number;
  totals: OutboxTotals;
}

// Out-of-line keys and no index on the outbox: with a key path or an index,
// Chromium clones every record again on put to read them (measured: 2 M
// events took ~750 ms instead of ~310 ms).
interface Schema extends DBSchema {
  outbox: { key: number; value: OutboxRecord };
  /** Page batch id → the sequence range it was stored under. */
  batches: { key: string; value: { seq: number; last: number } };
  /**
   * `latest`: the checkpoint; `covered`: its sequence (readable without the
   * snapshot); `epoch`: the leadership epoch, a fencing token checked by every
   * checkpoint write. Apart from `meta`, so that a checkpoint transaction
   * never waits for an append or holds one up.
   */
  checkpoint: {
    key: 'latest' | 'covered' | 'epoch' | 'acked' | 'corrections';
    value: StoredCheckpoint | number | StoredCorrections;
  };
  meta: { key: 'meta'; value: Meta };
  /** Events the server refused for good (a non-retryable 4xx), by sequence number. */
  deadletter: { key: number; value: DeadLetter };
}

/**
 * `acked` (the highest sequence the server acknowledged, written by the
 * uploader) and `corrections` live in the checkpoint store, never in `meta`:
 * a write to `meta` would make the next append take its slow path.
 */
export interface StoredCorrections {
  readonly cursor: number;
  readonly entries: readonly Correction[];
}

/** An event the server refused for good, kept with the reason. */
export interface DeadLetter {
  readonly seq: number;
  readonly ts: number;
  readonly data: unknown;
  /** The HTTP status and the server's message. */
  readonly status: number;
  readonly reason: string;
  readonly at: number;
}

type Db = IDBPDatabase<Schema>;
type Tx = IDBPTransaction<Schema, ('outbox' | 'meta' | 'batches' | 'checkpoint')[], 'readwrite'>;
const PRUNE_EVERY_MS = 30_000;

const SCHEMA_VERSION = 2;
const EMPTY_TOTALS: OutboxTotals = { events: 0, bytes: 0, records: 0, dropped: 0, expired: 0, refused: 0 };

export { LeadershipLost };

/**
 * Storage operations the runtime needs (a small interface, so tests and other hosts can swap it):
 * the shared outbox and checkpoint contracts of `checkpoint/storage.ts`, plus the browser's own needs.
 */
export interface RuntimeStore
  extends EventStore<PendingBatch, OutboxRecord, AppendReceipt, [limits: OutboxLimits, now: number]>,
    CheckpointStore<StoredCheckpoint, [epoch: number, limits: OutboxLimits, now: number]> {
  readonly clientId: string;
  /** The last sequence number handed out when the store was opened. */
  readonly openedAt: number;
  append(batches: readonly PendingBatch[], limits: OutboxLimits, now: number): Promise<AppendReceipt[]>;
  readAfter(seq: number, maxRecords: number): Promise<OutboxRecord[]>;
  /** Records holding sequences after `seq`: the one holding `seq + 1` (it may start earlier), then the next ones. */
  readHolding(seq: number, maxRecords: number): Promise<OutboxRecord[]>;
  lastSeq(): Promise<number>;
  claimEpoch(): Promise<number>;
  loadCheckpoint(): Promise<StoredCheckpoint | undefined>;
  writeCheckpoint(checkpoint: StoredCheckpoint, epoch: number, limits: OutboxLimits, now: number): Promise<void>;
  totals(): Promise<OutboxTotals>;
  /** The highest sequence the server acknowledged (0 before any). */
  acked(): Promise<number>;
  /** Records the server's acknowledgement of every sequence up to `seq` (never moves back). */
  ack(seq: number): Promise<void>;
  /** Stores events the server refused for good, and counts them as acknowledged. */
  deadLetter(letters: readonly DeadLetter[]): Promise<void>;
  /** Number of dead letters, and the latest. */
  deadLetters(): Promise<{ count: number; latest: DeadLetter | undefined }>;
  loadCorrections(): Promise<StoredCorrections | undefined>;
  saveCorrections(corrections: StoredCorrections): Promise<void>;
  /** Another tab appended up to `last`: the next append reads the metadata before writing. */
  othersAppended(last: number): void;
  close(): void;
}

/**
 * Opens (or creates) the runtime database `name`. `open()` is raced against
 * `openTimeoutMs`: a database blocked by another connection or a stalled
 * upgrade must not leave the runtime waiting forever.
 */
export async function openRuntimeStore(name: string, openTimeoutMs: number): Promise<RuntimeStore> {
  let db: Db | undefined;
  let connecting: Promise<Db> | undefined;
  /** This worker's client id and the highest sequence it knows, once read. */
  let identity: { clientId: string; seq: number; epoch: number } | undefined;
  let lost = false;
  const connect = async (): Promise<Db> => {
    const opening = openDB<Schema>(name, SCHEMA_VERSION, {
      upgrade(database, _old, _new, transaction) {
        if (!database.objectStoreNames.contains('outbox')) database.createObjectStore('outbox');
        if (!database.objectStoreNames.contains('batches')) database.createObjectStore('batches');
        if (!database.objectStoreNames.contains('checkpoint')) database.createObjectStore('checkpoint');
        if (!database.objectStoreNames.contains('meta')) database.createObjectStore('meta');
        if (!database.objectStoreNames.contains('deadletter')) database.createObjectStore('deadletter');
        // The database vanished while this worker used it (site data cleared):
        // keep the client id and go on numbering after the last sequence
        // handed out, so the server never takes new events for duplicates.
        if (identity) {
          void transaction
            .objectStore('meta')
            .put({ clientId: identity.clientId, seq: identity.seq, totals: EMPTY_TOTALS }, 'meta');
          // A leader keeps leading: its epoch is the fencing token its checkpoints carry.
          if (identity.epoch > 0) void transaction.objectStore('checkpoint').put(identity.epoch, 'epoch');
        }
      },
      // Another connection wants a newer schema: step aside rather than block it.
      blocking() {
        db?.close();
        db = undefined;
      },
      // The browser closed the connection abnormally (Safari's "Connection to
      // Indexed Database server lost"): the next operation reopens it.
      terminated() {
        lost = true;
        db = undefined;
      },
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new TimeoutError(
              `IndexedDB open("${name}") did not complete within ${openTimeoutMs} ms: another tab may be ` +
                'upgrading or blocking the database; close other tabs of this site or raise openTimeoutMs',
            ),
          ),
        openTimeoutMs,
      );
    });
    try {
      const opened = await Promise.race([opening, timeout]);
      lost = false;
      return opened;
    } catch (err) {
      // If the open completes after the timeout, close it so it blocks nobody.
      opening.then((late) => late.close()).catch(() => undefined);
      throw err instanceof TimeoutError ? err : storageError('open the database', err);
    } finally {
      clearTimeout(timer);
    }
  };

  /** Runs `op` on an open connection; reopens and retries once if the connection was lost. */
  const withDb = async <R>(what: string, op: (database: Db) => Promise<R>): Promise<R> => {
    for (let attempt = 0; ; attempt++) {
      if (!db) {
        // One connection attempt shared by every waiting operation, which then
        // resume in the order they arrived (appends must commit in order).
        connecting ??= connect().finally(() => {
          connecting = undefined;
        });
        db = await connecting;
      }
      try {
        return await op(db);
      } catch (err) {
        const name = (err as { name?: string } | null)?.name;
        if (attempt === 0 && (lost || name === 'InvalidStateError' || name === 'UnknownError')) {
          db = undefined;
          continue;
        }
        if (err instanceof LeadershipLost || err instanceof StorageError) throw err;
        throw storageError(what, err);
      }
    }
  };

  let lastPrune = Number.NEGATIVE_INFINITY;
  const noteSeq = (seq: number) => {
    if (identity && seq > identity.seq) identity.seq = seq;
  };
  /**
   * The metadata as this connection last wrote it. While no other tab
   * appends, an append writes without reading first and checks, in the same
   * transaction, that the metadata is still this (else it aborts and takes
   * the slow path): one round trip to the database instead of two.
   */
  let known: Meta | undefined;
  /** Appends issued so far: only the latest may say what the next one builds on. */
  let issued = 0;
  const slow = async (database: Db, batches: readonly PendingBatch[], limits: OutboxLimits, now: number, ticket: number) => {
    const { receipts, meta: written } = await appendTx(database, batches, limits, now);
    noteSeq(written.seq);
    // A later append may already be built on other expectations; then it decides.
    if (ticket === issued) known = written;
    return receipts;
  };
  const meta = await withDb('read the client id', async (database) => {
    const tx = database.transaction('meta', 'readwrite');
    const existing = await tx.store.get('meta');
    const value: Meta = existing ?? {
      clientId: randomClientId(),
      seq: 0,
      totals: EMPTY_TOTALS,
    };
    if (!existing) await tx.store.put(value, 'meta');
    await tx.done;
    return value;
  });
  identity = { clientId: meta.clientId, seq: meta.seq, epoch: 0 };

  return {
    clientId: meta.clientId,
    openedAt: meta.seq,
    append: (batches, limits, now) =>
      withDb('append to the outbox', async (database) => {
        const ticket = ++issued;
        try {
          const cached = known;
          const fast = cached && batches.every((b) => !b.resent) && appendKnown(database, batches, limits, now, cached);
          if (fast) {
            // The next append (maybe issued before this one commits) builds on this one.
            known = fast.meta;
            if (await fast.committed) {
              noteSeq(fast.meta.seq);
              return fast.receipts;
            }
            // Somebody else wrote: every append built on this one aborts too, and
            // they take the slow path in the order they were issued.
            known = undefined;
          }
          return await slow(database, batches, limits, now, ticket);
        } catch (err) {
          known = undefined;
          if ((err as { name?: string } | null)?.name !== 'QuotaExceededError') throw err;
          // Out of quota: make room by deleting records a checkpoint covers, then try once more.
          await pruneCovered(database);
          try {
            return await slow(database, batches, limits, now, ticket);
          } catch (again) {
            if ((again as { name?: string } | null)?.name !== 'QuotaExceededError') throw again;
            return refuseAll(database, batches, 'quota', `the browser's storage quota is exhausted (${describeError(again)})`);
          }
        }
      }),
    readAfter: (seq, maxRecords) =>
      withDb('read the outbox', (database) =>
        database.getAll('outbox', IDBKeyRange.lowerBound(seq, true), maxRecords),
      ),
    readHolding: (seq, maxRecords) =>
      withDb('read the outbox', async (database) => {
        const tx = database.transaction('outbox');
        const before = await tx.store.openCursor(IDBKeyRange.upperBound(seq), 'prev');
        const from = before && before.value.last > seq ? (before.key as number) : seq + 1;
        return tx.store.getAll(IDBKeyRange.lowerBound(from), maxRecords);
      }),
    lastSeq: () =>
      withDb('read the outbox position', async (database) => {
        const seq = (await database.get('meta', 'meta'))?.seq ?? 0;
        noteSeq(seq);
        return seq;
      }),
    claimEpoch: () =>
      withDb('claim leadership', async (database) => {
        const tx = database.transaction('checkpoint', 'readwrite');
        const epoch = (((await tx.store.get('epoch')) as number | undefined) ?? 0) + 1;
        await tx.store.put(epoch, 'epoch');
        await tx.done;
        if (identity) identity.epoch = epoch;
        return epoch;
      }),
    loadCheckpoint: () =>
      withDb('load the checkpoint', async (database) => (await database.get('checkpoint', 'latest')) as StoredCheckpoint | undefined),
    writeCheckpoint: (checkpoint, epoch, limits, now) =>
      withDb('write a checkpoint', async (database) => {
        // Snapshot, view and covered position commit together, or not at all.
        const tx = database.transaction('checkpoint', 'readwrite');
        const current = (await tx.store.get('epoch')) as number | undefined;
        if (current !== epoch) {
          tx.abort();
          await tx.done.catch(() => undefined);
          throw new LeadershipLost(`epoch ${epoch} was superseded by ${current}`);
        }
        void tx.store.put(checkpoint, 'latest');
        void tx.store.put(checkpoint.seq, 'covered');
        await tx.done;
        if (now - lastPrune >= PRUNE_EVERY_MS) {
          lastPrune = now;
          known = undefined;
          await prune(database, limits, now);
        }
      }),
    acked: () =>
      withDb('read the acknowledged position', async (database) => ((await database.get('checkpoint', 'acked')) as number | undefined) ?? 0),
    ack: (seq) =>
      withDb('record an acknowledgement', async (database) => {
        const tx = database.transaction('checkpoint', 'readwrite');
        const current = ((await tx.store.get('acked')) as number | undefined) ?? 0;
        if (seq > current) void tx.store.put(seq, 'acked');
        await tx.done;
      }),
    deadLetter: (letters) =>
      withDb('store dead letters', async (database) => {
        const tx = database.transaction(['deadletter', 'checkpoint'], 'readwrite');
        for (const l of letters) void tx.objectStore('deadletter').put(l, l.seq);
        const last = letters.reduce((m, l) => Math.max(m, l.seq), 0);
        const current = ((await tx.objectStore('checkpoint').get('acked')) as number | undefined) ?? 0;
        if (last > current) void tx.objectStore('checkpoint').put(last, 'acked');
        await tx.done;
      }),
    deadLetters: () =>
      withDb('read dead letters', async (database) => {
        const tx = database.transaction('deadletter');
        const count = await tx.store.count();
        const cursor = await tx.store.openCursor(null, 'prev');
        return { count, latest: cursor?.value };
      }),
    loadCorrections: () =>
      withDb('load corrections', async (database) => (await database.get('checkpoint', 'corrections')) as StoredCorrections | undefined),
    saveCorrections: (corrections) =>
      withDb('store corrections', async (database) => {
        await database.put('checkpoint', corrections, 'corrections');
      }),
    totals: () => withDb('read the outbox totals', async (database) => (await database.get('meta', 'meta'))?.totals ?? EMPTY_TOTALS),
    othersAppended(last) {
      known = undefined;
      noteSeq(last);
    },
    close() {
      db?.close();
      db = undefined;
    },
  };
}

async function appendTx(
  database: Db,
  batches: readonly PendingBatch[],
  limits: OutboxLimits,
  now: number,
  makingRoom = false,
): Promise<{ receipts: AppendReceipt[]; meta: Meta }> {
  // One transaction for the whole group: one commit (~0.4 ms) for many batches.
  // No await on anything but this transaction's requests, or it auto-commits.
  // It leaves the checkpoint store out, unless room must be made (which needs
  // to know what a checkpoint covers): appends and checkpoints never wait
  // for each other.
  const tx = database.transaction(
    makingRoom ? ['outbox', 'meta', 'batches', 'checkpoint'] : ['outbox', 'meta', 'batches'],
    'readwrite',
  ) as Tx;
  const ids = tx.objectStore('batches');
  // All reads issued at once: one round trip, not one per batch.
  const [m, ...known] = await Promise.all([readMeta(tx.objectStore('meta')), ...batches.map((b) => ids.get(b.id))]);
  const incoming = batches.reduce((n, b, i) => (known[i] ? n : n + b.length), 0);
  const incomingBytes = batches.reduce((n, b, i) => (known[i] ? n : n + b.bytes), 0);
  if (!makingRoom && (m.totals.events + incoming > limits.maxEvents || m.totals.bytes + incomingBytes > limits.maxBytes)) {
    tx.abort();
    await tx.done.catch(() => undefined);
    return appendTx(database, batches, limits, now, true);
  }
  const covered = makingRoom ? (((await tx.objectStore('checkpoint').get('covered')) as number | undefined) ?? 0) : 0;
  const receipts = new Map<PendingBatch, AppendReceipt>();
  const fresh: PendingBatch[] = [];
  batches.forEach((batch, i) => {
    const stored = known[i];
    if (stored) receipts.set(batch, { ok: true, first: stored.seq, last: stored.last, duplicate: true });
    else fresh.push(batch);
  });
  const accepted: PendingBatch[] = [];
  for (const batch of fresh) {
    const refusal = await makeRoom(tx, m, covered, batch, limits);
    if (refusal) {
      receipts.set(batch, refusal);
      m.totals = { ...m.totals, refused: m.totals.refused + batch.length };
      continue;
    }
    accepted.push(batch);
    m.totals = { ...m.totals, events: m.totals.events + batch.length, bytes: m.totals.bytes + batch.bytes };
  }
  // One record per page batch (up to a few thousand events), all in this
  // one transaction: the commit, not the record count, is what costs.
  for (const batch of accepted) {
    const first = m.seq + 1;
    m.seq += batch.length;
    receipts.set(batch, { ok: true, first, last: m.seq, duplicate: false });
    if (batch.length === 0) continue;
    putBatch(tx, batch, first, m.seq, now);
    m.totals = { ...m.totals, records: m.totals.records + 1 };
  }
  void tx.objectStore('meta').put(m, 'meta');
  await tx.done;
  return { receipts: batches.map((b) => receipts.get(b) as AppendReceipt), meta: m };
}

/**
 * The fast append: writes from the metadata this connection expects, and
 * checks within the same transaction that it is still that; `committed`
 * answers `false` (after aborting) if it was not. Answers `undefined` when
 * room must be made. Creates its transaction synchronously, so appends
 * commit in the order they are issued.
 */
function appendKnown(
  database: Db,
  batches: readonly PendingBatch[],
  limits: OutboxLimits,
  now: number,
  cached: Meta,
): { receipts: AppendReceipt[]; meta: Meta; committed: Promise<boolean> } | undefined {
  const events = batches.reduce((n, b) => n + b.length, 0);
  const bytes = batches.reduce((n, b) => n + b.bytes, 0);
  if (cached.totals.events + events > limits.maxEvents || cached.totals.bytes + bytes > limits.maxBytes) return undefined;
  const tx = database.transaction(['outbox', 'meta', 'batches'], 'readwrite') as Tx;
  const metaStore = tx.objectStore('meta');
  const current = metaStore.get('meta'); // runs before the writes below
  const m: Meta = { ...cached, totals: { ...cached.totals } };
  const receipts: AppendReceipt[] = [];
  for (const batch of batches) {
    const first = m.seq + 1;
    m.seq += batch.length;
    receipts.push({ ok: true, first, last: m.seq, duplicate: false });
    if (batch.length === 0) continue;
    putBatch(tx, batch, first, m.seq, now);
    m.totals = { ...m.totals, events: m.totals.events + batch.length, bytes: m.totals.bytes + batch.bytes, records: m.totals.records + 1 };
  }
  void metaStore.put(m, 'meta');
  const committed = current.then(async (found) => {
    if (!sameMeta(found, cached)) {
      tx.abort();
      await tx.done.catch(() => undefined);
      return false;
    }
    await tx.done;
    return true;
  });
  return { receipts, meta: m, committed };
}

function putBatch(
  tx: Tx,
  batch: PendingBatch,
  first: number,
  last: number,
  at: number,
) {
  const record: OutboxRecord = { seq: first, last, events: batch.events, encoding: batch.encoding, batch: batch.id, bytes: batch.bytes, at };
  void tx.objectStore('outbox').put(record, first);
  void tx.objectStore('batches').put({ seq: first, last }, batch.id);
}

function sameMeta(a: Meta | undefined, b: Meta): boolean {
  if (!a) return false;
  const t = a.totals;
  const u = b.totals;
  return (
    a.seq === b.seq &&
    a.clientId === b.clientId &&
    t.events === u.events &&
    t.bytes === u.bytes &&
    t.records === u.records &&
    t.dropped === u.dropped &&
    t.expired === u.expired &&
    t.refused === u.refused
  );
}

/**
 * Makes room for `batch` within the limits: first by deleting records a
 * checkpoint covers (processed; only the server still wants them), then by
 * the policy. Answers a refusal when the batch cannot be stored.
 */
async function makeRoom(
  tx: Tx,
  m: Meta,
  covered: number,
  batch: PendingBatch,
  limits: OutboxLimits,
): Promise<AppendReceipt | undefined> {
  const fits = () => m.totals.events + batch.length <= limits.maxEvents && m.totals.bytes + batch.bytes <= limits.maxBytes;
  if (fits()) return undefined;
  if (batch.length > limits.maxEvents || batch.bytes > limits.maxBytes)
    return refusal(batch.length, 'limit', `a batch of ${batch.length} events (~${batch.bytes} bytes) exceeds the outbox limits on its own`);
  await deleteOldest(tx, m, (r) =>
    fits() ? undefined : r.last <= covered ? 'expired' : limits.policy === 'reject' ? undefined : 'dropped',
  );
  if (fits()) return undefined;
  return refusal(
    batch.length,
    'limit',
    `the outbox is full (${m.totals.events} events, ~${m.totals.bytes} bytes; limits ${limits.maxEvents} events, ` +
      `${limits.maxBytes} bytes) and its policy is 'reject'; raise outbox.maxEvents/maxBytes or use 'drop-oldest'`,
  );
}

function refusal(refused: number, reason: 'limit' | 'quota', message: string): AppendReceipt {
  return { ok: false, refused, reason, message };
}

async function refuseAll(database: Db, batches: readonly PendingBatch[], reason: 'quota', message: string) {
  const refused = batches.reduce((s, b) => s + b.length, 0);
  const tx = database.transaction('meta', 'readwrite');
  const m = await readMeta(tx.store);
  m.totals = { ...m.totals, refused: m.totals.refused + refused };
  await tx.store.put(m, 'meta');
  await tx.done.catch(() => undefined); // counting is best effort when storage is full
  return batches.map((b) => refusal(b.length, reason, message));
}

/** Out of quota: deletes every record a checkpoint covers. */
const pruneCovered = (database: Db) => retire(database, (covered) => (r) => (r.last <= covered ? 'expired' : undefined));

/**
 * Retention: deletes records both covered by a checkpoint and acknowledged
 * by the server (no longer needed), and covered records older than
 * `maxAgeMs` (they only wait for the server). Run now and then, not with
 * every checkpoint: it scans from the oldest record.
 */
const prune = (database: Db, limits: OutboxLimits, now: number) =>
  retire(database, (covered, acked) => {
    const deletable = Math.min(covered, acked);
    return (r) => (r.last <= deletable ? 'acked' : r.last <= covered && now - r.at > limits.maxAgeMs ? 'expired' : undefined);
  });

/** Why a record is deleted (the counter it adds to), or `undefined` to keep it and stop. */
type Verdict = (r: OutboxRecord) => 'acked' | 'expired' | 'dropped' | undefined;

/** In one transaction, deletes the oldest records while `verdict`, made from the metadata and the covered position, says so. */
async function retire(database: Db, verdict: (covered: number, acked: number) => Verdict): Promise<void> {
  const tx = database.transaction(['outbox', 'meta', 'batches', 'checkpoint'], 'readwrite');
  const m = await readMeta(tx.objectStore('meta'));
  const covered = ((await tx.objectStore('checkpoint').get('covered')) as number | undefined) ?? 0;
  const acked = ((await tx.objectStore('checkpoint').get('acked')) as number | undefined) ?? 0;
  await deleteOldest(tx, m, verdict(covered, acked));
  await tx.objectStore('meta').put(m, 'meta');
  await tx.done;
}

/** Deletes records from the oldest while `verdict` gives a reason, counting each in `m.totals`. */
async function deleteOldest(tx: Tx, m: Meta, verdict: Verdict): Promise<void> {
  let cursor = await tx.objectStore('outbox').openCursor();
  while (cursor) {
    const r = cursor.value;
    const why = verdict(r);
    if (why === undefined) break;
    m.totals = removed(m.totals, r, why === 'acked' ? undefined : why);
    void tx.objectStore('batches').delete(r.batch);
    await cursor.delete();
    cursor = await cursor.continue();
  }
}

function removed(t: OutboxTotals, r: OutboxRecord, counter?: 'dropped' | 'expired'): OutboxTotals {
  const n = r.last - r.seq + 1;
  return {
    ...t,
    events: t.events - n,
    bytes: t.bytes - r.bytes,
    records: t.records - 1,
    dropped: t.dropped + (counter === 'dropped' ? n : 0),
    expired: t.expired + (counter === 'expired' ? n : 0),
  };
}

async function readMeta(store: { get(key: 'meta'): Promise<Meta | undefined> }): Promise<Meta> {
  const m = await store.get('meta');
  if (!m) throw new StorageError('the runtime database lost its metadata record; clear the site data to start over');
  return m;
}

function randomClientId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function describeError(err: unknown): string {
  const { name, message } = errorParts(err);
  return `${name}: ${message}`;
}

function storageError(what: string, err: unknown): StorageError {
  return new StorageError(`IndexedDB: could not ${what} (${describeError(err)})`, { cause: err });
}
