/**
 * The runtime's IndexedDB connection: the schema, `open()` with its time
 * limit, a time limit on every transaction the runtime waits for, the
 * reopening of a lost connection ({@link Connection.withDb}), the move to a
 * fresh database when one stops answering, stepping aside for a newer
 * schema, and the client identity read at open.
 * The only file that imports `idb`; the outbox, checkpoint and sync stores
 * beside it work through {@link Connection}.
 *
 * @module
 */
import { type DBSchema, type IDBPDatabase, type IDBPTransaction, openDB } from 'idb';
import { errorParts, LeadershipLost, StorageError, TimeoutError } from '../../errors.js';
import { type Clock, systemClock } from '../../time/clock.js';
import type { DeadLetter, OutboxRecord, OutboxTotals, StorageHealth, StoredCheckpoint, StoredCorrections } from '../outbox-store.js';

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

/** Options of {@link openConnection}. */
export interface ConnectionOptions {
  /** How long `open()` may take (default 10 000 ms). */
  readonly openTimeoutMs?: number;
  /** How long one operation (its transactions) may go unanswered before the connection counts as hung (default 15 000 ms). */
  readonly transactionTimeoutMs?: number;
  readonly clock?: Clock;
  /** Called with an error that says what happened each time the connection recovers (reported on `status$`). */
  readonly onRecovery?: (err: Error) => void;
}

/** The runtime database, opened; shared by its stores. */
export interface Connection {
  /** Read from (or written to) `meta` at open; kept up to date by the stores. */
  readonly identity: Identity;
  /** The highest sequence handed out when the database was opened. */
  readonly openedAt: number;
  /** Runs `op` on an open connection; reopens and retries once if the connection was lost. */
  withDb<R>(what: string, op: (database: Db) => Promise<R>): Promise<R>;
  /**
   * Closes the connection so that the next operation opens a new one: Firefox
   * refuses writes on a connection where a QuotaExceededError occurred
   * ("a database that did not allow mutations").
   */
  reopen(): void;
  /** Notes that sequences up to `seq` were handed out (by this worker or another tab). */
  noteSeq(seq: number): void;
  /** What the connection did to stay usable. */
  health(): StorageHealth;
  close(): void;
}

/** The database of generation `n` (0: `name` itself). */
const generationName = (name: string, n: number) => (n === 0 ? name : `${name}~${n}`);

/**
 * The newest generation of `name` this origin holds, from `indexedDB.databases()`
 * (0 where the engine cannot list databases, or has none newer).
 */
async function newestGeneration(name: string): Promise<number> {
  const list = await globalThis.indexedDB?.databases?.().catch(() => []);
  let newest = 0;
  for (const { name: n } of list ?? []) {
    const m = n?.startsWith(`${name}~`) ? /^(\d+)$/.exec(n.slice(name.length + 1)) : null;
    if (m) newest = Math.max(newest, Number(m[1]));
  }
  return newest;
}

/** An operation raced against the transaction time limit lost. */
class Unanswered extends Error {}

/**
 * Opens (or creates) the runtime database `name`. `open()` is raced against
 * `openTimeoutMs` on `clock`: a database blocked by another connection or a
 * stalled upgrade must not leave the runtime waiting forever.
 *
 * Every operation is raced against `transactionTimeoutMs` too. WebKit, after
 * a worker is terminated inside a transaction, may leave every later
 * transaction on that database unanswered (read-only ones, other tabs'),
 * while `open()` still succeeds. The first such silence reopens the
 * connection; a second moves to a fresh database, `name~N`, keeping the
 * client id and the sequence (the server must not take new events for
 * duplicates), and every tab follows it there (`indexedDB.databases()`).
 */
export async function openConnection(
  name: string,
  openTimeoutMsOrOptions: number | ConnectionOptions = {},
  legacyClock?: Clock,
): Promise<Connection> {
  const options: ConnectionOptions =
    typeof openTimeoutMsOrOptions === 'number' ? { openTimeoutMs: openTimeoutMsOrOptions, clock: legacyClock } : openTimeoutMsOrOptions;
  const openTimeoutMs = options.openTimeoutMs ?? 10_000;
  const transactionTimeoutMs = options.transactionTimeoutMs ?? 15_000;
  const clock = options.clock ?? systemClock;
  const onRecovery = options.onRecovery ?? (() => undefined);
  let db: Db | undefined;
  let connecting: Promise<Db> | undefined;
  let identity: Identity | undefined;
  let lost = false;
  // Raced like every other operation: in WebKit's unanswering state, listing may hang too.
  let generation = await new Promise<number>((resolve) => {
    const cancel = clock.timeout(() => resolve(0), transactionTimeoutMs);
    newestGeneration(name).then((n) => {
      cancel();
      resolve(n);
    }, () => resolve(0));
  });
  let reopened = 0;
  let moved = 0;
  let vanished = 0;
  /** Set while moving to a fresh database: its creation is expected, not a vanishing. */
  let moving = false;
  /** Settles when the connection moves to a fresh database: operations waiting on the old one follow. */
  let movedAway = signal();
  let relocating: Promise<void> | undefined;
  const connect = async (): Promise<Db> => {
    const dbName = generationName(name, generation);
    // Taken now: an abandoned attempt on the old database may still complete later.
    const fresh = moving;
    moving = false;
    let created = false;
    const opening = openDB<Schema>(dbName, SCHEMA_VERSION, {
      upgrade(database, old, _new, transaction) {
        if (old === 0 && identity) created = true;
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
              `IndexedDB open("${dbName}") did not complete within ${openTimeoutMs} ms: another tab may be ` +
                'upgrading or blocking the database; close other tabs of this site or raise openTimeoutMs',
            ),
          ),
        openTimeoutMs,
      );
    });
    try {
      const opened = await Promise.race([opening, timeout]);
      lost = false;
      if (fresh) {
        // Another tab may have created the fresh database with a lower sequence than this worker handed out.
        const tx = opened.transaction('meta', 'readwrite');
        const m = await tx.store.get('meta');
        if (m && identity && m.seq < identity.seq) await tx.store.put({ ...m, seq: identity.seq }, 'meta');
        await tx.done;
      } else if (created) {
        vanished++;
        onRecovery(
          new StorageError(
            `IndexedDB: the database "${dbName}" disappeared under the runtime (site data cleared, or evicted by the browser) ` +
              'and was created again, keeping the client id and the numbering; events not yet uploaded were lost with it. ' +
              'Ask for persistent storage (createRuntime({ persist: true })) to make eviction less likely',
          ),
        );
      }
      return opened;
    } catch (err) {
      // If the open completes after the timeout, close it so it blocks nobody.
      abandon(opening);
      throw err instanceof TimeoutError ? err : storageError('open the database', err);
    } finally {
      cancel?.();
    }
  };

  /** One connection attempt shared by every waiting operation, which then resume in the order they arrived (appends must commit in order). */
  const connection = (): Promise<Db> => {
    if (connecting) return connecting;
    const attempt = connect().finally(() => {
      if (connecting === attempt) connecting = undefined;
    });
    connecting = attempt;
    return attempt;
  };

  /**
   * The database stopped answering (WebKit after a worker died inside a
   * transaction): a fresh one is the only way to keep storing.
   */
  const moveOn = (from: number): Promise<void> =>
    // Operations that find the database silent at once move it once, together.
    (relocating ??= relocate(from).finally(() => {
      relocating = undefined;
    }));
  const relocate = async (from: number) => {
    const newest = await limited(newestGeneration(name)).catch(() => generation);
    if (generation !== from) return;
    // Another tab moved already: follow it, unless it is where the silence is.
    generation = newest > from ? newest : from + 1;
    moved++;
    moving = true;
    db = undefined;
    connecting = undefined;
    movedAway.settle();
    movedAway = signal();
    // In WebKit, readers of the stores behind the unfinished transaction wait too: what they hold cannot come along.
    const kept = identity
      ? 'keeping the client id and the numbering; events stored but not yet processed or uploaded stay in the old ' +
        'database, and the pipeline starts from an empty state'
      : 'with a new client id, as the old one could not be read (no event is numbered twice under one client id)';
    onRecovery(
      new StorageError(
        `IndexedDB: the database "${generationName(name, from)}" stopped answering (no transaction completes ` +
          `within ${transactionTimeoutMs} ms); moved to "${generationName(name, generation)}", ${kept}. ` +
          'If this is not WebKit, raise serveRuntime.transactionTimeoutMs',
      ),
    );
  };

  const unanswered = (what: string) =>
    new TimeoutError(
      `IndexedDB: could not ${what}: no answer within ${transactionTimeoutMs} ms, even in a fresh database; ` +
        'close other tabs of this site and reload, or raise serveRuntime.transactionTimeoutMs',
    );

  /** Races one operation against the transaction time limit. */
  const limited = async <R>(op: Promise<R>): Promise<R> => {
    let cancel: (() => void) | undefined;
    try {
      return await Promise.race([
        op,
        new Promise<never>((_, reject) => {
          cancel = clock.timeout(() => reject(new Unanswered()), transactionTimeoutMs);
        }),
      ]);
    } finally {
      cancel?.();
    }
  };

  const withDb = async <R>(what: string, op: (database: Db) => Promise<R>): Promise<R> => {
    for (let attempt = 0, silent = 0; ; attempt++) {
      const usedGeneration = generation;
      if (!db) {
        const opening = connection();
        try {
          // After a silence, the reopening gets the same time limit: Firefox and
          // WebKit keep a new connection waiting while the silent one closes.
          const opened = await Promise.race([silent > 0 ? limited(opening) : opening, movedAway.promise]);
          if (!opened) continue; // another operation moved on: follow it
          db = opened;
        } catch (err) {
          if (generation !== usedGeneration) continue;
          if (!(err instanceof Unanswered)) throw err;
          abandon(opening);
          if (++silent > 2) throw unanswered(what);
          await moveOn(usedGeneration);
          continue;
        }
      }
      const used = db;
      try {
        return await limited(op(used));
      } catch (err) {
        if (err instanceof Unanswered) {
          // Another operation may already have moved on: follow it, do not move twice.
          if (generation !== usedGeneration || db !== used) continue;
          silent++;
          if (silent === 1) {
            reopened++;
            db = undefined;
            used.close();
            onRecovery(
              new TimeoutError(
                `IndexedDB: could not ${what}: no answer within ${transactionTimeoutMs} ms; reopened the connection`,
              ),
            );
            continue;
          }
          if (silent === 2) {
            used.close();
            await moveOn(usedGeneration);
            continue;
          }
          throw unanswered(what);
        }
        const errName = (err as { name?: string } | null)?.name;
        if (attempt === 0 && (lost || errName === 'InvalidStateError' || errName === 'UnknownError')) {
          // A lost connection (WebKit's "Connection to Indexed Database server lost",
          // a connection closed under the runtime) clears on a new connection, and so
          // does, reportedly, Firefox's read-only state after a QuotaExceededError.
          reopened++;
          if (db === used) db = undefined;
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
    reopen() {
      if (!db) return;
      reopened++;
      db.close();
      db = undefined;
    },
    health: () => ({ database: generationName(name, generation), reopened, moved, vanished }),
    close() {
      db?.close();
      db = undefined;
    },
  };
}

/** A promise settled (with `undefined`) by `settle()`. */
function signal(): { promise: Promise<undefined>; settle(): void } {
  let settle = () => undefined as void;
  const promise = new Promise<undefined>((resolve) => {
    settle = () => resolve(undefined);
  });
  return { promise, settle };
}

/** Closes a connection that opens after it was given up on, so that it blocks nobody. */
function abandon(opening: Promise<Db>): void {
  opening.then((late) => late.close()).catch(() => undefined);
}

/**
 * Settles when `tx` commits, or rejects with the error that aborted it. Not
 * idb's `tx.done`: when a request fails (Firefox's QuotaExceededError comes on
 * a put), it rejects while the error event passes, before the transaction has
 * aborted and says why, with a bare AbortError.
 */
export function finished(tx: IDBPTransaction<Schema, never[], 'readwrite'> | Tx): Promise<void> {
  tx.done.catch(() => undefined); // rejected as described: answered here instead
  return new Promise((resolve, reject) => {
    tx.addEventListener('complete', () => resolve());
    tx.addEventListener('abort', () => reject(tx.error ?? new DOMException('the transaction was aborted', 'AbortError')));
  });
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
