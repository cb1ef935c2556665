/**
 * A {@link RunnerStore} in memory, with leadership epochs: for tests, for
 * hosts whose input is already in memory, and as the reference the Runner
 * conformance suite holds every other store to. Checkpoints are copied with
 * `structuredClone` on write and read, as a real store would.
 *
 * @module
 */
import { LeadershipLost } from '../errors.js';
import type { RunnerBatch, RunnerCheckpoint, RunnerStore } from './store.js';

/** An in-memory outbox and checkpoint; `append` stores a batch, `claimEpoch` fences older writers. */
export class MemoryRunnerStore implements RunnerStore {
  private readonly batches: RunnerBatch[] = [];
  private last = 0;
  private epoch = 0;
  private checkpoint: RunnerCheckpoint | undefined;

  /** Stores `events` as one batch; answers it. */
  append(events: readonly unknown[]): RunnerBatch {
    const batch: RunnerBatch = { seq: this.last + 1, last: this.last + events.length, events: [...events] };
    this.last = batch.last;
    if (events.length > 0) this.batches.push(batch);
    return batch;
  }

  /** A new leader's epoch: checkpoint writes with an older one are refused from now on. */
  claimEpoch(): number {
    return ++this.epoch;
  }

  async loadCheckpoint(): Promise<RunnerCheckpoint | undefined> {
    return this.checkpoint && structuredClone(this.checkpoint);
  }

  async readAfter(seq: number, maxBatches: number): Promise<RunnerBatch[]> {
    const out: RunnerBatch[] = [];
    for (const b of this.batches) {
      if (b.last <= seq) continue;
      out.push(b);
      if (out.length >= maxBatches) break;
    }
    return out;
  }

  async writeCheckpoint(checkpoint: RunnerCheckpoint, epoch: number): Promise<void> {
    if (epoch !== this.epoch) throw new LeadershipLost(`epoch ${epoch} was superseded by ${this.epoch}`);
    this.checkpoint = structuredClone(checkpoint);
  }

  async lastSeq(): Promise<number> {
    return this.last;
  }
}
