/**
 * What a runtime needs from storage, whatever backs it (IndexedDB in a
 * browser worker, Durable Object storage on the edge, memory in tests): an
 * outbox that appends events under increasing sequence numbers, and a
 * checkpoint that stores a pipeline snapshot together with the sequence it
 * covers, atomically. Types only, so every host can import it without
 * pulling its neighbours' platform code.
 *
 * The exactly-once rule every host follows with it: restore
 * `loadCheckpoint()`, then feed the records `readAfter(checkpoint.seq)` in
 * order. A record may only be deleted once a checkpoint covers it *and*
 * downstream acknowledged it (`ack`).
 *
 * @module
 */
import type { PipelineSnapshot } from './snapshot.js';

/** The least a checkpoint holds: a snapshot and the outbox position it reflects. */
export interface Checkpoint {
  /** Every event up to this sequence number is reflected in `snapshot`. */
  readonly seq: number;
  readonly snapshot: PipelineSnapshot;
}

/**
 * An append-only outbox with sequence numbers. `Context` is what a host
 * passes along with each append (the browser passes its limits and clock).
 */
export interface EventStore<Batch, Stored, Receipt, Context extends unknown[] = []> {
  /** Appends `batches` durably, numbering their events after the last sequence handed out. */
  append(batches: readonly Batch[], ...context: Context): Promise<Receipt[]>;
  /** Stored records holding sequences after `seq`, oldest first, at most `maxRecords`. */
  readAfter(seq: number, maxRecords: number): Promise<Stored[]>;
  /** The highest sequence downstream acknowledged (0 before any). */
  acked(): Promise<number>;
  /** Records that downstream acknowledged every sequence up to `seq` (never moves back). */
  ack(seq: number): Promise<void>;
}

/** The checkpoint: a snapshot and its position, written in one atomic step. */
export interface CheckpointStore<C extends Checkpoint, Context extends unknown[] = []> {
  /** The latest checkpoint, or `undefined` before the first. */
  loadCheckpoint(): Promise<C | undefined>;
  /** Replaces the checkpoint; snapshot and position commit together or not at all. */
  writeCheckpoint(checkpoint: C, ...context: Context): Promise<void>;
}
