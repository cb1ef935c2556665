/**
 * What leaves the outbox, and why: room made for an append under the
 * limits (covered records first, then the policy), records deleted when the
 * quota runs out, and the periodic pruning of records no longer needed.
 * Each deletion is counted (`acked`, `expired`, `dropped`) in the metadata.
 *
 * @module
 */
import type { AppendReceipt } from '../contract.js';
import type { OutboxLimits, OutboxRecord, OutboxTotals, PendingBatch } from '../outbox-store.js';
import { type Db, type Meta, readMeta, type Tx } from './connection.js';

/**
 * Makes room for `batch` within the limits: first by deleting records a
 * checkpoint covers (processed; only the server still wants them), then by
 * the policy. Answers a refusal when the batch cannot be stored.
 */
export async function makeRoom(
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

/** A receipt refusing `refused` events. */
export function refusal(refused: number, reason: 'limit' | 'quota', message: string): AppendReceipt {
  return { ok: false, refused, reason, message };
}

/** Out of quota: deletes every record a checkpoint covers. */
export const pruneCovered = (database: Db) => retire(database, (covered) => (r) => (r.last <= covered ? 'expired' : undefined));

/**
 * Retention: deletes records both covered by a checkpoint and acknowledged
 * by the server (no longer needed), and covered records older than
 * `maxAgeMs` (they only wait for the server). Run now and then, not with
 * every checkpoint: it scans from the oldest record.
 */
export const prune = (database: Db, limits: OutboxLimits, now: number) =>
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
