/**
 * What the page client needs from one started worker: typed calls, each
 * with a time limit, that reject when the worker dies, and a way to end it.
 * In a browser it is a `WorkerLink` (comlink over a Web Worker); in tests, a
 * fake, so the page client's logic runs in Node in virtual time.
 *
 * @module
 */
import type { WorkerError } from '../errors.js';
import type { PageMessage, WorkerApi } from '../worker/contract.js';

/** A method of the worker's API. */
export type Method = Exclude<keyof WorkerApi, symbol>;

/** One started worker. Open another to restart. */
export interface Sender {
  /** `true` once the worker was terminated or found dead. */
  readonly dead: boolean;
  /** Calls `method` in the worker; rejects after `timeoutMs` or when the worker dies. */
  call<M extends Method>(method: M, timeoutMs: number, ...args: Parameters<WorkerApi[M]>): ReturnType<WorkerApi[M]>;
  /** Terminates the worker; pending calls reject with `cause`. */
  kill(cause: WorkerError): void;
}

/**
 * Starts a worker whose problems go to `onIssue` and whose messages (results,
 * notices) go to `onMessage`. Throws if the worker cannot be created.
 */
export type OpenSender = (onIssue: (err: Error) => void, onMessage: (message: PageMessage) => void) => Sender;
