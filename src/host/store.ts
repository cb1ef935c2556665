/**
 * What the {@link Runner} needs from storage, whatever backs it (IndexedDB
 * in a browser worker, Durable Object storage on the edge, memory or the
 * server's log): four methods. Types only, so every host can import them
 * without pulling its neighbours' platform code.
 *
 * The exactly-once rule: restore `loadCheckpoint()`, then process the
 * batches `readAfter(checkpoint.seq)` in order; a checkpoint and the
 * sequence it covers commit together. A record may only be deleted once a
 * checkpoint covers it (and whatever else reads it, such as an uploader,
 * is done with it).
 *
 * @module
 */
import type { PipelineSnapshot } from '../checkpoint/snapshot.js';

/** Rows of a columnar batch, decoded one by one (no array of objects is built). */
export interface RowSource {
  readonly length: number;
  row(index: number): unknown;
}

/** One stored batch of events, numbered `seq..last`, decoded as the pipeline takes them. */
export interface RunnerBatch {
  /** Sequence number of the first event. */
  readonly seq: number;
  /** Sequence number of the last event (`seq - 1` for an empty batch). */
  readonly last: number;
  /** The events: `last - seq + 1` of them. */
  readonly events: readonly unknown[] | RowSource;
  /** Where they come from (a client), for a runner with per-source watermarks (`RunnerOptions.perSource`). */
  readonly source?: string;
}

/** What a checkpoint holds: the pipeline's snapshot, the view, and the sequence both cover. */
export interface RunnerCheckpoint {
  /** Every event up to this sequence number is reflected in `snapshot` and `view`. */
  readonly seq: number;
  /** When it was taken (the host's clock). */
  readonly at: number;
  readonly snapshot: PipelineSnapshot;
  /** The view as {@link LatestPanes} encodes it (or a plain array of results). */
  readonly view: unknown;
}

/**
 * The Runner's storage. `writeCheckpoint` is fenced: a store that has
 * leaders (the browser's tabs) refuses a write whose `epoch` was superseded
 * with `LeadershipLost`; a store with one writer by construction ignores it.
 */
export interface RunnerStore {
  /** The latest checkpoint, or `undefined` before the first. */
  loadCheckpoint(): Promise<RunnerCheckpoint | undefined>;
  /** Stored batches holding sequences after `seq`, oldest first, at most `maxBatches`. */
  readAfter(seq: number, maxBatches: number): Promise<readonly RunnerBatch[]>;
  /** Replaces the checkpoint; snapshot, view and position commit together or not at all. */
  writeCheckpoint(checkpoint: RunnerCheckpoint, epoch: number): Promise<void>;
  /** The last sequence number stored (0 before any). */
  lastSeq(): Promise<number>;
}
