/**
 * The IndexedDB outbox: appends page batches under increasing sequence
 * numbers (a group of batches in one transaction, on a fast path that
 * writes without reading first while no other tab appends), reads them back
 * in order, and prunes what checkpoints and the server no longer need (see
 * `outbox-retention.ts` for what is deleted when).
 *
 * @module
 */
import type { AppendReceipt } from '../contract.js';
import type { OutboxLimits, OutboxRecord, OutboxStore, PendingBatch } from '../outbox-store.js';
import { finished, type Connection, type Db, describeError, EMPTY_TOTALS, type Meta, readMeta, type Tx } from './connection.js';
import { makeRoom, prune, pruneCovered, refusal } from './outbox-retention.js';

const PRUNE_EVERY_MS = 30_000;

/** The outbox, plus the pruning the checkpoint store runs after each checkpoint. */
export interface IdbOutbox extends OutboxStore {
  /** Deletes what is no longer needed, at most every 30 s (it scans from the oldest record). */
  pruneNowAndThen(limits: OutboxLimits, now: number): Promise<void>;
}

/** The outbox of the runtime database `connection`. */
export function idbOutbox(connection: Connection): IdbOutbox {
  const { withDb, noteSeq } = connection;
  let lastPrune = Number.NEGATIVE_INFINITY;
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

  /** Appends, or answers the QuotaExceededError that stopped it. */
  const attempt = (batches: readonly PendingBatch[], limits: OutboxLimits, now: number, ticket: number, fastPath: boolean) =>
    withDb('append to the outbox', async (database): Promise<AppendReceipt[] | { quota: unknown }> => {
      try {
        const cached = known;
        const fast = fastPath && cached && batches.every((b) => !b.resent) && appendKnown(database, batches, limits, now, cached);
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
        return { quota: err };
      }
    });

  return {
    async append(batches, limits, now) {
      const ticket = ++issued;
      const first = await attempt(batches, limits, now, ticket, true);
      if (Array.isArray(first)) return first;
      // Out of quota: make room by deleting records a checkpoint covers, then try
      // once more. Each step on a new connection: Firefox refuses writes on the
      // one where the quota error occurred.
      connection.reopen();
      await withDb('make room in the outbox', (database) => pruneCovered(database));
      const again = await attempt(batches, limits, now, ticket, false);
      if (Array.isArray(again)) return again;
      connection.reopen();
      return withDb('count refused events', (database) =>
        refuseAll(database, batches, 'quota', `the browser's storage quota is exhausted (${describeError(again.quota)})`),
      );
    },
    readAfter: (seq, maxRecords) =>
      withDb('read the outbox', (database) => database.getAll('outbox', IDBKeyRange.lowerBound(seq, true), maxRecords)),
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
    totals: () => withDb('read the outbox totals', async (database) => (await database.get('meta', 'meta'))?.totals ?? EMPTY_TOTALS),
    othersAppended(last) {
      known = undefined;
      noteSeq(last);
    },
    async pruneNowAndThen(limits, now) {
      if (now - lastPrune < PRUNE_EVERY_MS) return;
      lastPrune = now;
      known = undefined;
      await withDb('prune the outbox', (database) => prune(database, limits, now));
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
    const refused = await makeRoom(tx, m, covered, batch, limits);
    if (refused) {
      receipts.set(batch, refused);
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
  await finished(tx);
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
    await finished(tx);
    return true;
  });
  return { receipts, meta: m, committed };
}

function putBatch(tx: Tx, batch: PendingBatch, first: number, last: number, at: number) {
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

async function refuseAll(database: Db, batches: readonly PendingBatch[], reason: 'quota', message: string) {
  const refused = batches.reduce((s, b) => s + b.length, 0);
  const tx = database.transaction('meta', 'readwrite');
  const m = await readMeta(tx.store);
  m.totals = { ...m.totals, refused: m.totals.refused + refused };
  await tx.store.put(m, 'meta');
  await tx.done.catch(() => undefined); // counting is best effort when storage is full
  return batches.map((b) => refusal(b.length, reason, message));
}
