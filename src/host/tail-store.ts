/**
 * The Runner's store over a log another component owns (the file log, a
 * JetStream stream): batches are the log's frames, one client's events each,
 * numbered in log order from the checkpoint's sequence on, held in memory
 * until a checkpoint covers them; the checkpoint records the log position
 * after the last frame it covers. Where checkpoints go is the host's
 * (`io`), so the global speed layer keeps one in a file and a cluster
 * partition one in a KV bucket.
 *
 * @internal
 * @module
 */
import { StorageError } from '../errors.js';
import type { RunnerBatch, RunnerCheckpoint, RunnerStore } from './store.js';

/** A checkpoint with the log position it covers. */
export type TailCheckpoint<P> = RunnerCheckpoint & { readonly position: P | undefined };

/** Where a {@link TailStore} keeps its checkpoint. */
export interface TailIO<P> {
  load(): Promise<TailCheckpoint<P> | undefined>;
  save(checkpoint: TailCheckpoint<P>): Promise<void>;
}

export class TailStore<P> implements RunnerStore {
  private readonly pending: { batch: RunnerBatch; end: P }[] = [];
  private last = 0;
  private checkpointSeq = 0;
  /** The log position the latest checkpoint covers (`undefined`: the start). */
  position: P | undefined;
  /** A position past every frame added so far, when the host saw frames it did not add (another partition's). */
  seen: P | undefined;

  constructor(private readonly io: TailIO<P>) {}

  /** Numbers one frame's events as the next batch; `end` is the log position after it. */
  add(events: readonly unknown[], source: string, end: P): RunnerBatch {
    const batch: RunnerBatch = { seq: this.last + 1, last: this.last + events.length, events, source };
    this.last = batch.last;
    this.pending.push({ batch, end });
    return batch;
  }

  /** Batches added and not yet covered by a checkpoint. */
  get backlog(): number {
    return this.pending.length;
  }

  async loadCheckpoint(): Promise<RunnerCheckpoint | undefined> {
    const c = await this.io.load();
    if (!c) return undefined;
    this.position = c.position;
    this.last = this.checkpointSeq = c.seq;
    return c;
  }

  async readAfter(seq: number, maxBatches: number): Promise<readonly RunnerBatch[]> {
    const out: RunnerBatch[] = [];
    for (const p of this.pending) {
      if (p.batch.last <= seq) continue;
      out.push(p.batch);
      if (out.length === maxBatches) break;
    }
    return out;
  }

  async writeCheckpoint(checkpoint: RunnerCheckpoint): Promise<void> {
    let position = this.position;
    if (checkpoint.seq !== this.checkpointSeq) {
      const covered = this.pending.find((p) => p.batch.last === checkpoint.seq);
      if (!covered) throw new StorageError(`checkpointed sequence ${checkpoint.seq}, which ends no frame`);
      position = covered.end;
    }
    // Everything added is covered: frames seen since and not added are not this store's.
    if (checkpoint.seq === this.last && this.seen !== undefined) position = this.seen;
    await this.io.save({ ...checkpoint, position });
    this.position = position;
    this.checkpointSeq = checkpoint.seq;
    let drop = 0;
    while (drop < this.pending.length && this.pending[drop]!.batch.last <= checkpoint.seq) drop++;
    this.pending.splice(0, drop);
  }

  async lastSeq(): Promise<number> {
    return this.last;
  }
}
