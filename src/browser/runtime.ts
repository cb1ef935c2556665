/**
 * What `createRuntime` answers: a running browser runtime ({@link Runtime}),
 * what its `status$` shows and what its `drain()` resolves with. Types only.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import type { InvalidRecordError, OutboxFullError, PipelineError, TimeoutError } from '../errors.js';
import type { createRuntime } from './create-runtime.js';
import type { Columns, RuntimeStatus, StorageStatus, ViewEntry } from '../worker/contract.js';

/**
 * What `navigator.storage.persist()` answered to `createRuntime({ persist: true })`:
 * `'not-asked'` without the option; `'asking'` until it answers; `'granted'`
 * or `'denied'`; `'unsupported'` where the page has no `navigator.storage.persist`;
 * `'no-answer'` when it did not answer within `callTimeoutMs` (reported on `errors`).
 */
export type PersistOutcome = 'not-asked' | 'asking' | 'granted' | 'denied' | 'unsupported' | 'no-answer';

/** The worker's {@link StorageStatus} plus the answer to the page's request for persistent storage. */
export interface PageStorageStatus extends StorageStatus {
  readonly persist: PersistOutcome;
}

/** What `status$` shows: the worker's {@link RuntimeStatus} plus the page's own counters. */
export interface PageStatus extends RuntimeStatus {
  /** The worker's storage report, plus `persist`: what the page's request for persistent storage got. */
  readonly storage: PageStorageStatus;
  /** Events emitted in this page and not yet durable. */
  readonly pending: number;
  /** Workers replaced after dying or missing a time limit. */
  readonly restarts: number;
}

/** What `drain()` resolves with. */
export interface DrainReceipt {
  /** Every event this page emitted before `drain()` has a sequence number ≤ this and is durable and processed. */
  readonly through: number;
}

/** A running browser runtime (see {@link createRuntime}). */
export interface Runtime<E = unknown, R = unknown> {
  /** The persistent client id shared by every tab of this runtime. */
  readonly clientId: string;
  /**
   * Queues one event. Synchronous, never blocks and never throws; answers
   * `false` (and reports on `status$`) only after `close()`.
   */
  emit(event: E): boolean;
  /**
   * Queues a batch of events stored column by column (typed arrays are
   * cheapest); the worker decodes rows with `serveRuntime`'s `row`. Do not
   * modify the arrays afterwards: they are kept until durable.
   */
  emitColumns<C extends Columns>(columns: C): boolean;
  /**
   * Resolves once every event emitted so far is durable in the outbox and
   * processed by the pipeline. Rejects with {@link OutboxFullError} if some
   * of the events emitted since the previous `drain()` were refused for lack of room, {@link InvalidRecordError} if some
   * could not be encoded, {@link PipelineError} if the pipeline failed,
   * {@link TimeoutError} after `drainTimeoutMs`. The other events are stored
   * either way.
   */
  drain(): Promise<DrainReceipt>;
  /** Results as they fire (in every tab). After a crash, panes since the last checkpoint fire again, with the same pane numbers. */
  readonly results$: Observable<R>;
  /**
   * The latest pane of every window fired so far, one per (key, start, end);
   * survives reloads and crashes. With an `endpoint`, each entry says
   * whether its value is the speed layer's (`source: 'speed'`) or the
   * server's correction (`'batch'`).
   */
  view(): Promise<ViewEntry[]>;
  /** {@link Runtime.view} as it changes: on subscribing, then after results fire or corrections arrive (at most every 100 ms). */
  readonly view$: Observable<ViewEntry[]>;
  /** Outbox depth, watermark, last checkpoint, state size, online, drops and errors; refreshed while subscribed. */
  readonly status$: Observable<PageStatus>;
  /** Writes a checkpoint now (when this tab leads); answers the sequence it covers or `null`. */
  checkpoint(): Promise<number | null>;
  /**
   * Terminates the worker abruptly, as a crash would, and starts a new one
   * that restores the last checkpoint. Events not yet durable are re-sent.
   */
  restart(): Promise<void>;
  /**
   * `true` holds uploads in every tab of this runtime, as if the network
   * were gone (an app's "sync off" switch, a metered connection): events
   * keep being stored, processed and checkpointed, and wait in the outbox;
   * `status$` shows `online: false` and `upload.state: 'offline'`. `false`
   * follows the browser's connectivity again and the outbox drains.
   * Survives worker restarts; a tab opened later learns it from the others.
   */
  setOffline(offline: boolean): Promise<void>;
  /** Sends what is queued, writes a final checkpoint, and stops the worker. Later calls reject. */
  close(): Promise<void>;
}

