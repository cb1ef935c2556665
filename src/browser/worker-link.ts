/**
 * The page's link to the runtime: one worker, wrapped with comlink, whose
 * calls cannot hang (each has a timeout and rejects when the worker dies),
 * and which forwards the runtime's results to the page. The only page-side
 * file that touches comlink and `Worker`.
 *
 * @module
 */
import { type Remote, releaseProxy, wrap } from 'comlink';
import { InvalidOptionError, TimeoutError, WorkerError } from '../errors.js';
import { type Clock, systemClock } from '../time/clock.js';
import type { PageMessage, WorkerApi } from '../worker/contract.js';
import type { Method, Sender } from './sender.js';

/** One started worker, the page client's {@link Sender} in a browser. Create another to restart. */
export class WorkerLink implements Sender {
  private readonly worker: Worker;
  private readonly remote: Remote<WorkerApi>;
  private readonly pending = new Set<(err: Error) => void>();
  private deathCause: WorkerError | undefined;
  private started = false;

  constructor(
    factory: () => Worker,
    onIssue: (err: Error) => void,
    onMessage: (message: PageMessage) => void,
    /** Times each call's limit. */
    private readonly clock: Clock = systemClock,
  ) {
    const worker = factory();
    if (typeof (worker as Partial<Worker> | null)?.postMessage !== 'function')
      throw new InvalidOptionError(
        'createRuntime.worker',
        "must return a Worker, e.g. () => new Worker(new URL('./analytics.worker.ts', import.meta.url), { type: 'module' })",
      );
    this.worker = worker;
    this.remote = wrap<WorkerApi>(worker);
    worker.addEventListener('error', (e: ErrorEvent) => {
      e.preventDefault?.(); // reported on status$, not as an uncaught error in the page
      const err = new WorkerError(
        `the runtime's worker threw${this.started ? '' : ' while loading'}: ${e.message || 'an error; see the worker console'}`,
      );
      // A worker that throws while loading never serves the runtime: fail its calls now.
      if (this.started) onIssue(err);
      else this.kill(err);
    });
    // Results and notices come as plain messages beside comlink's (which carry an `id`).
    worker.addEventListener('message', (e: MessageEvent<{ tidemark?: PageMessage }>) => {
      const message = e.data?.tidemark;
      if (message) onMessage(message);
    });
    worker.addEventListener('messageerror', () => onIssue(new WorkerError('a message from the worker could not be read')));
  }

  /** `true` once the worker was terminated or found dead. */
  get dead(): boolean {
    return this.deathCause !== undefined;
  }

  /** Calls `method` in the worker; rejects after `timeoutMs` or when the worker dies. */
  call<M extends Method>(method: M, timeoutMs: number, ...args: Parameters<WorkerApi[M]>): ReturnType<WorkerApi[M]> {
    return new Promise<unknown>((resolve, reject) => {
      if (this.deathCause) {
        reject(this.deathCause);
        return;
      }
      const fail = (err: Error) => {
        cancel();
        this.pending.delete(fail);
        reject(err);
      };
      const cancel = this.clock.timeout(
        () => fail(new TimeoutError(`${method}() got no answer from the runtime's worker within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.pending.add(fail);
      const fn = this.remote[method] as unknown as (...a: unknown[]) => Promise<unknown>;
      fn(...args).then(
        (value) => {
          cancel();
          this.pending.delete(fail);
          if (method === 'start') this.started = true;
          resolve(value);
        },
        // comlink rebuilds thrown errors with their name, message and stack.
        (err: Error) => fail(err),
      );
    }) as unknown as ReturnType<WorkerApi[M]>;
  }

  /** Terminates the worker; pending calls reject with `cause`. */
  kill(cause: WorkerError): void {
    if (this.deathCause) return;
    this.deathCause = cause;
    for (const fail of [...this.pending]) fail(cause);
    this.remote[releaseProxy]();
    this.worker.terminate();
  }
}
