/**
 * How far the pipeline got, as this tab knows it (from its own runner or
 * the leading tab's announcements), and the callers waiting for a sequence
 * to be processed; once the pipeline failed, they are told why.
 *
 * @module
 */
import { errorParts, PipelineError } from '../errors.js';

/** The processed position and its waiters. */
export class Progress {
  private seen = 0;
  private failedWith: PipelineError | undefined;
  private readonly waiters = new Set<{ seq: number; resolve: () => void; reject: (err: Error) => void }>();

  /** Every sequence up to this one is processed. */
  get processed(): number {
    return this.seen;
  }

  /** Why the pipeline cannot go on (here, or in the leading tab), once it failed. */
  get failure(): PipelineError | undefined {
    return this.failedWith;
  }

  /** Resolves once `seq` is processed; rejects if the pipeline fails first. */
  wait(seq: number): Promise<void> {
    if (seq <= this.seen) return Promise.resolve();
    if (this.failedWith) return Promise.reject(this.failedWith);
    return new Promise<void>((resolve, reject) => this.waiters.add({ seq, resolve, reject }));
  }

  advance(through: number): void {
    if (through <= this.seen) return;
    this.seen = through;
    for (const w of this.waiters)
      if (w.seq <= through) {
        this.waiters.delete(w);
        w.resolve();
      }
  }

  fail(cause: unknown): void {
    if (this.failedWith) return;
    const { name, message } = errorParts(cause);
    this.failedWith = new PipelineError(
      `the pipeline failed (${name}: ${message}); ` +
        'events are still stored, and are processed once the pipeline is fixed and the page reloaded',
    );
    for (const w of this.waiters) w.reject(this.failedWith);
    this.waiters.clear();
  }
}
