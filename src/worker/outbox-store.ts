/**
 * The runtime store's shapes and its interface, {@link RuntimeStore}: what
 * the worker, the pipeline host and the uploader need from storage. Types
 * only, so the platform-free pipeline host can use them without pulling
 * IndexedDB in. The IndexedDB implementation is in `idb/` (opened with
 * `openRuntimeStore` from `idb/runtime-store.ts`): one database, so that a
 * checkpoint and its outbox position commit in one transaction.
 *
 * @module
 */
import type { PipelineSnapshot } from '../checkpoint/snapshot.js';
import type { CheckpointStore, EventStore } from '../checkpoint/storage.js';
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

/**
 * The corrections pulled from the server and the feed position they reach.
 * Kept, like `acked`, in the checkpoint store, never in `meta`: a write to
 * `meta` would make the next append take its slow path.
 */
export interface StoredCorrections {
  readonly cursor: number;
  readonly entries: readonly Correction[];
}

/** An event the server refused for good, kept with the reason. */
export interface DeadLetter {
  readonly seq: number;
  readonly ts: number | null;
  readonly data: unknown;
  /** The HTTP status and the server's message. */
  readonly status: number;
  readonly reason: string;
  readonly at: number;
}

/** The outbox: appends under increasing sequence numbers, and reads in order. */
export interface OutboxStore {
  append(batches: readonly PendingBatch[], limits: OutboxLimits, now: number): Promise<AppendReceipt[]>;
  readAfter(seq: number, maxRecords: number): Promise<OutboxRecord[]>;
  /** Records holding sequences after `seq`: the one holding `seq + 1` (it may start earlier), then the next ones. */
  readHolding(seq: number, maxRecords: number): Promise<OutboxRecord[]>;
  lastSeq(): Promise<number>;
  totals(): Promise<OutboxTotals>;
  /** Another tab appended up to `last`: the next append reads the metadata before writing. */
  othersAppended(last: number): void;
}

/** The checkpoint, fenced by the leadership epoch. */
export interface EpochCheckpoints {
  /** Takes the next leadership epoch: checkpoints written under an older one are refused from now on. */
  claimEpoch(): Promise<number>;
  loadCheckpoint(): Promise<StoredCheckpoint | undefined>;
  /**
   * Writes `checkpoint` if `epoch` is still the current one, else rejects
   * with `LeadershipLost`; now and then it also prunes the outbox under `limits`.
   */
  writeCheckpoint(checkpoint: StoredCheckpoint, epoch: number, limits: OutboxLimits, now: number): Promise<void>;
}

/** What the uploader keeps: the server's acknowledgements, dead letters and corrections. */
export interface SyncStore {
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
}

/**
 * Storage operations the runtime needs (a small interface, so tests and other hosts can swap it):
 * the shared outbox and checkpoint contracts of `checkpoint/storage.ts`, plus the browser's own needs,
 * made of the outbox, the epoch-fenced checkpoint and the sync store.
 */
export interface RuntimeStore
  extends EventStore<PendingBatch, OutboxRecord, AppendReceipt, [limits: OutboxLimits, now: number]>,
    CheckpointStore<StoredCheckpoint, [epoch: number, limits: OutboxLimits, now: number]>,
    OutboxStore,
    EpochCheckpoints,
    SyncStore {
  readonly clientId: string;
  /** The last sequence number handed out when the store was opened. */
  readonly openedAt: number;
  /** What the store did to stay usable (IndexedDB: reopened, moved, vanished); absent in stores that cannot fail so. */
  health?(): StorageHealth;
  close(): void;
}

/** What the connection did to stay usable, for `status$`. */
export interface StorageHealth {
  /** The database in use: `name`, or `name~N` after N moves to a fresh database. */
  readonly database: string;
  /** Connections reopened after a lost connection or a transaction that got no answer. */
  readonly reopened: number;
  /** Moves to a fresh database because the previous one stopped answering. */
  readonly moved: number;
  /** The database disappeared under the runtime (site data cleared or evicted) and was created again. */
  readonly vanished: number;
}

