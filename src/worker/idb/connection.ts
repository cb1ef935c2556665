/**
 * The runtime's IndexedDB connection: the schema, `open()` with its time
 * limit, the reopening of a lost connection ({@link Connection.withDb}),
 * stepping aside for a newer schema, and the client identity read at open.
 * The only file that imports `idb`; the outbox, checkpoint and sync stores
 * beside it work through {@link Connection}.
 *
 * @module
 */
import { type DBSchema, type IDBPDatabase, type IDBPTransaction, openDB } from 'idb';
import { errorParts, LeadershipLost, StorageError, TimeoutError } from '../../errors.js';
import { type Clock, systemClock } from '../../time/clock.js';
import type { DeadLetter, OutboxRecord, OutboxTotals, StoredCheckpoint, StoredCorrections } from '../outbox-store.js';

/** The outbox's metadata record. */
export interface Meta {
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
   *
   * `acked` (the highest sequence the server acknowledged, written by the
   * uploader) and `corrections` live here too, never in `meta`: a write to
   * `meta` would make the next append take its slow path.
   */
  checkpoint: {
    key: 'latest' | 'covered' | 'epoch' | 'acked' | 'corrections';
    value: StoredCheckpoint | number | StoredCorrections;
  };
  meta: { key: 'meta'; value: Meta };
  /** Events the server refused for good (a non-retryable 4xx), by sequence number. */
  deadletter: { key: number; value: DeadLetter };
}

/** An open database of the runtime's schema. */
export type Db = IDBPDatabase<Schema>;
/** A read-write transaction over the outbox's stores. */
export type Tx = IDBPTransaction<Schema, ('outbox' | 'meta' | 'batches' | 'checkpoint')[], 'readwrite'>;

const SCHEMA_VERSION = 2;
/** The counters of an empty outbox. */
export const EMPTY_TOTALS: OutboxTotals = { events: 0, bytes: 0, records: 0, dropped: 0, expired: 0, refused: 0 };

/** This worker's client id, the highest sequence it knows and its leadership epoch (0 until it claims one). */
export interface Identity {
  readonly clientId: string;
  seq: number;
  epoch: number;
}

/** The runtime database, opened; shared by its stores. */
export interface Connection {
  /** Read from (or written to) `meta` at open; kept up to date by the stores. */
  readonly identity: Identity;
  /** The highest sequence handed out when the database was opened. */
  readonly openedAt: number;
  /** Runs `op` on an open connection; reopens and retries once if the connection was lost. */
  withDb<R>(what: string, op: (database: Db) => Promise<R>): Promise<R>;
  /** Notes that sequences up to `seq` were handed out (by this worker or another tab). */
  noteSeq(seq: number): void;
  close(): void;
}

/**
 * Opens (or creates) the runtime database `name`. `open()` is raced against
 * `openTimeoutMs` on `clock`: a database blocked by another connection or a
 * stalled upgrade must not leave the runtime waiting forever.
 */
export async function openConnection(name: string, openTimeoutMs: number, clock: Clock = systemClock): Promise<Connection> {
  let db: Db | undefined;
  let connecting: Promise<Db> | undefined;
  let identity: Identity | undefined;
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
    let cancel: (() => void) | undefined;
    const timeout = new Promise<never>((_, reject) => {
      cancel = clock.timeout(
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
      cancel?.();
    }
  };

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
        const errName = (err as { name?: string } | null)?.name;
        if (attempt === 0 && (lost || errName === 'InvalidStateError' || errName === 'UnknownError')) {
          db = undefined;
          continue;
        }
        if (err instanceof LeadershipLost || err instanceof StorageError) throw err;
        throw storageError(what, err);
      }
    }
  };

  const meta = await withDb('read the client id', async (database) => {
    const tx = database.transaction('meta', 'readwrite');
    const existing = await tx.store.get('meta');
    const value: Meta = existing ?? { clientId: randomClientId(), seq: 0, totals: EMPTY_TOTALS };
    if (!existing) await tx.store.put(value, 'meta');
    await tx.done;
    return value;
  });
  const known: Identity = { clientId: meta.clientId, seq: meta.seq, epoch: 0 };
  identity = known;

  return {
    identity: known,
    openedAt: meta.seq,
    withDb,
    noteSeq(seq) {
      if (seq > known.seq) known.seq = seq;
    },
    close() {
      db?.close();
      db = undefined;
    },
  };
}

/** The metadata record, read in `store`'s transaction; its absence means the database was tampered with. */
export async function readMeta(store: { get(key: 'meta'): Promise<Meta | undefined> }): Promise<Meta> {
  const m = await store.get('meta');
  if (!m) throw new StorageError('the runtime database lost its metadata record; clear the site data to start over');
  return m;
}

/** `name: message` of a browser error, for messages. */
export function describeError(err: unknown): string {
  const { name, message } = errorParts(err);
  return `${name}: ${message}`;
}

function storageError(what: string, err: unknown): StorageError {
  return new StorageError(`IndexedDB: could not ${what} (${describeError(err)})`, { cause: err });
}

function randomClientId(): string {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
