/**
 * `createRuntime`: the page side of the browser runtime. `emit()` only
 * pushes into an array; batches cross to the worker (one message per batch,
 * never per event) and stay in page memory until the worker answers that
 * they are durable, so a worker that dies loses nothing: the runtime starts
 * a new one and re-sends them (batch ids make the re-send idempotent).
 *
 * @module
 */
import { Observable, Subject, share, switchMap, timer } from 'rxjs';
import {
  describe,
  errorParts,
  InvalidOptionError,
  InvalidRecordError,
  OutboxFullError,
  type PipelineError,
  RuntimeClosedError,
  StorageError,
  TimeoutError,
  WorkerError,
} from '../errors.js';
import { rejectUnknown, requireFunction, requireObject, requirePositiveInteger, requireTimerMs } from '../options.js';
import type {
  AppendReceipt,
  Columns,
  Encoding,
  PageMessage,
  Payload,
  RuntimeIssue,
  RuntimeStatus,
  ViewEntry,
} from '../worker/contract.js';
import { WorkerLink } from './worker-link.js';

/** Options of {@link createRuntime}. */
export interface RuntimeOptions {
  /**
   * Creates the runtime's worker (a module worker calling `serveRuntime`),
   * e.g. `() => new Worker(new URL('./analytics.worker.ts', import.meta.url), { type: 'module' })`.
   * Called again to replace a worker that died.
   */
  readonly worker: () => Worker;
  /**
   * How events cross to the worker and are stored (default `'json'`, 1.3×
   * the throughput in `npm run bench:browser`): with `'json'`, events follow JSON's rules (as on the server): a
   * Date arrives as its ISO string, a function property disappears, a BigInt
   * or a cycle is refused. `'structured-clone'` keeps Dates, Maps and typed
   * arrays, and refuses functions. The pipeline sees the same events live and
   * after a restart either way.
   */
  readonly encoding?: 'json' | 'structured-clone';
  /** Most events per message to the worker (default 4 096). */
  readonly batchSize?: number;
  /** Time limit of each call to the worker, in ms (default 10 000); a worker that misses it is replaced. */
  readonly callTimeoutMs?: number;
  /** Time limit of `drain()`, in ms (default 60 000). */
  readonly drainTimeoutMs?: number;
  /** How often `status$` refreshes, in ms (default 500). */
  readonly statusIntervalMs?: number;
  /**
   * The Tidemark server's base URL, e.g. `'https://example.com/v1'` (see
   * `tidemark/server`). With it, the leading tab's worker uploads the outbox
   * (acknowledged events are then deleted once a checkpoint covers them),
   * uploads final window results, and pulls corrections into the view.
   */
  readonly endpoint?: string;
  /**
   * This client's token for `endpoint` (required with it). A function gets
   * the runtime's `clientId` and is called again when the server refuses the
   * token (401), e.g. `(id) => fetch('/my-token?clientId=' + id).then((r) => r.text())`.
   */
  readonly token?: string | ((clientId: string) => string | Promise<string>);
}

/** What `status$` shows: the worker's {@link RuntimeStatus} plus the page's own counters. */
export interface PageStatus extends RuntimeStatus {
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

interface Batch {
  readonly id: string;
  payload: Payload;
  readonly encoding: Encoding;
  length: number;
  /** Sent before, to a worker that died or failed to store it: it may be stored already. */
  resent: boolean;
  settle: (receipt: AppendReceipt) => void;
  readonly settled: Promise<AppendReceipt>;
}

const KNOWN = ['worker', 'encoding', 'batchSize', 'callTimeoutMs', 'drainTimeoutMs', 'statusIntervalMs', 'endpoint', 'token'] as const;

/**
 * Starts the browser runtime: a Web Worker serving `serveRuntime` (from
 * `tidemark/worker`) with a durable IndexedDB outbox and exactly-once
 * checkpoints. Resolves once the worker has opened its storage.
 *
 * @param options - the worker factory and time limits; validated now
 * @throws {@link InvalidOptionError} for invalid options
 * @throws {@link WorkerError} if the worker fails to load (the message says why)
 * @throws {@link TimeoutError} if the worker or its storage does not start in time
 * @example
 * ```ts
 * import { createRuntime } from 'tidemark/browser';
 * import type { WindowResult } from 'tidemark';
 * const rt = await createRuntime<{ page: string; ts: number }, WindowResult<string, number>>({
 *   worker: () => new Worker(new URL('./analytics.worker.js', import.meta.url), { type: 'module' }),
 * });
 * rt.results$.subscribe((r) => console.log(r.key, r.start, r.value, r.timing));
 * rt.emit({ page: '/home', ts: Date.now() });
 * await rt.drain(); // durable and processed
 * console.log(await rt.view());
 * await rt.close();
 * ```
 */
export async function createRuntime<E = unknown, R = unknown>(options: RuntimeOptions): Promise<Runtime<E, R>> {
  requireObject('createRuntime(options)', options);
  rejectUnknown('createRuntime', options, KNOWN);
  requireFunction(
    'createRuntime.worker',
    options.worker,
    "pass () => new Worker(new URL('./analytics.worker.ts', import.meta.url), { type: 'module' })",
  );
  const batchSize = options.batchSize ?? 4096;
  const encoding = options.encoding ?? 'json';
  if (encoding !== 'json' && encoding !== 'structured-clone')
    throw new InvalidOptionError('createRuntime.encoding', `must be 'json' or 'structured-clone', got ${describe(encoding)}`);
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  const drainTimeoutMs = options.drainTimeoutMs ?? 60_000;
  const statusIntervalMs = options.statusIntervalMs ?? 500;
  requirePositiveInteger('createRuntime.batchSize', batchSize);
  requireTimerMs('createRuntime.callTimeoutMs', callTimeoutMs);
  requireTimerMs('createRuntime.drainTimeoutMs', drainTimeoutMs);
  requireTimerMs('createRuntime.statusIntervalMs', statusIntervalMs);
  const { endpoint, token } = options;
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
      throw new InvalidOptionError('createRuntime.endpoint', `must be an absolute http(s) URL such as 'https://example.com/v1', got ${describe(endpoint)}`);
    if (typeof token !== 'string' && typeof token !== 'function')
      throw new InvalidOptionError('createRuntime.token', "is required with an endpoint: a string, or (clientId) => token; `npx tidemark token <clientId>` prints one");
  } else if (token !== undefined) throw new InvalidOptionError('createRuntime.token', 'was given without an endpoint; pass endpoint too');

  const issues: RuntimeIssue[] = [];
  const report = (err: unknown) => {
    issues.push({ ...errorParts(err), at: Date.now() });
    if (issues.length > 10) issues.shift();
  };

  const results$ = new Subject<R>();
  /** view$ subscribers to tell that the view changed. */
  const viewChanged = new Set<() => void>();
  const onMessage = (message: PageMessage) => {
    if (message.type === 'results') for (const r of message.results) results$.next(r as R);
    else if (message.type === 'token?') void connect(link);
    else if (message.type === 'offline') forcedOffline = message.offline;
    if (message.type === 'results' || message.type === 'corrections') for (const changed of viewChanged) changed();
  };
  /** Gives the worker the endpoint and a token (fetched again when `token` is a function). */
  const connect = async (target: WorkerLink, clientId = runtimeClientId) => {
    if (endpoint === undefined || token === undefined) return;
    try {
      const t = typeof token === 'function' ? await token(clientId) : token;
      if (typeof t !== 'string') throw new InvalidOptionError('createRuntime.token', `the token function must give a string, got ${describe(t)}`);
      await target.call('connect', callTimeoutMs, endpoint, t);
    } catch (err) {
      report(err); // the worker keeps its outbox; a later restart or 401 tries again
    }
  };
  let runtimeClientId = '';
  let forcedOffline = false;
  /** A new worker, started; if it does not start it is terminated and the error thrown. */
  const startWorker = async (): Promise<{ link: WorkerLink; clientId: string }> => {
    const next = new WorkerLink(options.worker, report, onMessage);
    try {
      const { clientId } = await next.call('start', callTimeoutMs);
      runtimeClientId = clientId;
      await connect(next, clientId);
      if (forcedOffline) await next.call('setOffline', callTimeoutMs, true);
      return { link: next, clientId };
    } catch (err) {
      next.kill(asWorkerError(err, 'the worker did not start'));
      throw err;
    }
  };
  const first = await startWorker();
  let link = first.link;

  const pageId = randomId();
  let buffer: unknown[] = [];
  let scheduled = false;
  let counter = 0;
  let closed = false;
  let restarts = 0;
  let restarting: Promise<void> | undefined;
  let durableThrough = 0;
  /** Not yet sent to the current worker, in order. */
  let outgoing: Batch[] = [];
  /** Sent, waiting for a receipt, in order. */
  const inflight = new Map<string, Batch>();
  /** Refusals not yet reported by a drain(). */
  const refusals: Extract<AppendReceipt, { ok: false }>[] = [];

  const newBatch = (payload: Payload, batchEncoding: Encoding, length: number): Batch => {
    let settle!: (r: AppendReceipt) => void;
    const settled = new Promise<AppendReceipt>((resolve) => {
      settle = (receipt) => {
        // Remembered for the next drain(), even if it is called after this answer.
        if (!receipt.ok) refusals.push(receipt);
        resolve(receipt);
      };
    });
    return { id: `${pageId}.${++counter}`, payload, encoding: batchEncoding, length, resent: false, settle, settled };
  };

  /**
   * `refused` events of `batch` could not be encoded: the rest is sent, and
   * its receipt becomes a refusal of those events, so drain() reports them.
   */
  const partlyRefused = (batch: Batch, refused: number, why: string) => {
    const message = `${refused} events could not be sent to the worker: ${why}`;
    report(new InvalidRecordError(message, undefined));
    const original = batch.settle;
    batch.settle = (r) => original(r.ok ? { ok: false, refused, reason: 'invalid', message } : r);
    if (batch.length === 0) batch.settle({ ok: false, refused, reason: 'invalid', message });
    else outgoing.unshift(batch);
  };

  /** Keeps the events `encode` accepts. */
  const sift = (events: readonly unknown[], encode: (event: unknown) => unknown) =>
    events.filter((event) => {
      try {
        encode(event);
        return true;
      } catch {
        return false;
      }
    });

  const enqueue = (events: unknown[]) => {
    if (encoding === 'structured-clone') {
      outgoing.push(newBatch(events, 'structured-clone', events.length));
      return;
    }
    try {
      outgoing.push(newBatch(JSON.stringify(events), 'json', events.length));
    } catch (err) {
      // A BigInt or a cycle somewhere: refuse exactly those events.
      const kept = sift(events, (e) => JSON.stringify(e));
      const batch = newBatch(JSON.stringify(kept), 'json', kept.length);
      partlyRefused(batch, events.length - kept.length, `not writable as JSON (${errorParts(err).message})`);
    }
  };

  const flush = () => {
    scheduled = false;
    if (buffer.length === 0) return;
    const events = buffer;
    buffer = [];
    enqueue(events);
    send();
  };

  const send = () => {
    if (restarting || link.dead) return;
    const batches = outgoing;
    outgoing = [];
    for (const batch of batches) {
      inflight.set(batch.id, batch);
      link.call('append', callTimeoutMs, batch.id, batch.payload, batch.encoding, batch.length, batch.resent).then(
        (receipt) => {
          inflight.delete(batch.id);
          if (!receipt.ok && receipt.reason === 'storage') {
            // IndexedDB failed even after reopening: keep the batch and try again.
            report(new StorageError(receipt.message));
            setTimeout(() => {
              batch.resent = true;
              outgoing.unshift(batch);
              send();
            }, 1_000);
            return;
          }
          if (receipt.ok) durableThrough = Math.max(durableThrough, receipt.last);
          else report(new OutboxFullError(receipt.message, receipt.refused));
          batch.settle(receipt);
        },
        (err: Error) => {
          if (err?.name === 'DataCloneError' && batch.encoding === 'structured-clone' && inflight.get(batch.id) === batch) {
            // postMessage threw, so the worker never saw this batch and its id is free to reuse.
            inflight.delete(batch.id);
            const events = batch.payload as readonly unknown[];
            batch.payload = sift(events, structuredClone);
            batch.length = batch.payload.length;
            partlyRefused(batch, events.length - batch.length, `not structured-cloneable (${err.message})`);
            send();
          } else if (!closed) void restart(err);
        },
      );
    }
  };

  const restart = (cause: unknown): Promise<void> => {
    restarting ??= (async () => {
      link.kill(asWorkerError(cause, `the worker was replaced: ${errorParts(cause).message}`));
      report(cause);
      restarts++;
      for (let backoff = 100; !closed; backoff = Math.min(backoff * 2, 5_000)) {
        try {
          link = (await startWorker()).link;
          break;
        } catch (err) {
          report(err);
          await new Promise((r) => setTimeout(r, backoff));
        }
      }
      // Everything not acknowledged goes again, in order, before anything new.
      for (const batch of inflight.values()) batch.resent = true;
      outgoing = [...inflight.values(), ...outgoing];
      inflight.clear();
    })().finally(() => {
      restarting = undefined;
      if (!closed) send();
    });
    return restarting;
  };

  /** Calls the worker, riding out a restart, until `deadline`. */
  const callUntil = async <T>(what: string, deadline: number, call: () => Promise<T>): Promise<T> => {
    for (;;) {
      if (closed) throw new RuntimeClosedError(`${what} after close(); create a new runtime`);
      if (restarting) await restarting;
      try {
        return await call();
      } catch (err) {
        const { name } = errorParts(err);
        const lost = name === 'WorkerError' || name === 'TimeoutError';
        if (!lost || Date.now() >= deadline) throw err;
        if (!restarting && !closed) void restart(err);
      }
    }
  };

  const ensureOpen = (call: string) => {
    if (closed) throw new RuntimeClosedError(`${call} after close(); create a new runtime`);
  };

  // Leaving the page: send what is queued, then ask the worker for a final
  // checkpoint, to release leadership and to close its database connection,
  // which also lets the page enter the back/forward cache. Best effort: on an
  // unload the browser usually terminates the worker first. If the page comes
  // back from that cache, a new worker starts.
  let hidden = false;
  const onPageHide = () => {
    flush();
    if (restarting || link.dead) return;
    hidden = true;
    const leaving = link;
    void leaving
      .call('close', callTimeoutMs)
      .catch(() => undefined)
      .finally(() => leaving.kill(new WorkerError('the page was hidden (pagehide)')));
  };
  const onPageShow = (e: Event) => {
    if (hidden && (e as PageTransitionEvent).persisted && !closed) {
      hidden = false;
      void restart(new WorkerError('the page came back from the back/forward cache'));
    }
  };
  globalThis.addEventListener?.('pagehide', onPageHide);
  globalThis.addEventListener?.('pageshow', onPageShow);

  const status$ = timer(0, statusIntervalMs).pipe(
    switchMap(async () => {
      const status = await callUntil('status()', 0, () => link.call('status', callTimeoutMs)).catch(() => undefined);
      return status && { ...status, errors: [...status.errors, ...issues], pending: pendingEvents(), restarts };
    }),
    // `filter` would cost another import; undefined (a missed poll) is skipped here.
    switchMap((s) => (s ? [s] : [])),
    share(),
  );

  const pendingEvents = () =>
    buffer.length + [...inflight.values(), ...outgoing].reduce((n, b) => n + b.length, 0);

  const view$ = new Observable<ViewEntry[]>((subscriber) => {
    let dirty = true;
    let busy = false;
    let timeoutId: ReturnType<typeof setTimeout> | undefined;
    const pull = async () => {
      timeoutId = undefined;
      if (busy || !dirty || closed) return;
      busy = true;
      dirty = false;
      try {
        subscriber.next(await runtime.view());
      } catch (err) {
        report(err);
      } finally {
        busy = false;
        if (dirty) timeoutId = setTimeout(pull, 100);
      }
    };
    const changed = () => {
      dirty = true;
      if (!busy && timeoutId === undefined) timeoutId = setTimeout(pull, 100);
    };
    viewChanged.add(changed);
    void pull();
    return () => {
      viewChanged.delete(changed);
      clearTimeout(timeoutId);
    };
  });

  const runtime: Runtime<E, R> = {
    clientId: first.clientId,
    view$,
    emit(event) {
      if (closed) {
        report(new RuntimeClosedError('emit() after close(); the event was not recorded'));
        return false;
      }
      buffer.push(event);
      if (buffer.length >= batchSize) flush();
      else if (!scheduled) {
        scheduled = true;
        queueMicrotask(flush);
      }
      return true;
    },
    emitColumns(columns) {
      const length = (columns as Columns | null)?.length;
      if (closed || typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
        report(
          closed
            ? new RuntimeClosedError('emitColumns() after close(); the batch was not recorded')
            : new InvalidOptionError('emitColumns(columns)', `expected columns with a whole-number length, got ${describe(length)}`),
        );
        return false;
      }
      flush(); // keeps emission order
      outgoing.push(newBatch(columns, 'columns', length));
      send();
      return true;
    },
    async drain() {
      ensureOpen('drain()');
      const deadline = Date.now() + drainTimeoutMs;
      flush();
      const batches = [...inflight.values(), ...outgoing];
      let timeoutId: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timeoutId = setTimeout(
          () => reject(new TimeoutError(`drain() did not complete within ${drainTimeoutMs} ms; see status$ for errors`)),
          drainTimeoutMs,
        );
      });
      try {
        await Promise.race([Promise.all(batches.map((b) => b.settled)), timeout]);
        const refusedNow = refusals.splice(0);
        const refused = refusedNow.reduce((n, r) => n + r.refused, 0);
        const first = refusedNow[0];
        if (first) {
          const message = `${refused} of the events emitted before drain() were refused: ${first.message}`;
          throw first.reason === 'invalid'
            ? new InvalidRecordError(message, undefined)
            : new OutboxFullError(message, refused);
        }
        const through = durableThrough;
        await Promise.race([
          callUntil('drain()', deadline, () => link.call('processed', Math.max(1, deadline - Date.now()), through)),
          timeout,
        ]);
        return { through };
      } finally {
        clearTimeout(timeoutId);
      }
    },
    results$: results$.asObservable(),
    view() {
      ensureOpen('view()');
      return callUntil('view()', Date.now() + callTimeoutMs, () => link.call('view', callTimeoutMs));
    },
    status$,
    checkpoint() {
      ensureOpen('checkpoint()');
      return callUntil('checkpoint()', Date.now() + callTimeoutMs, () => link.call('checkpoint', callTimeoutMs));
    },
    restart() {
      ensureOpen('restart()');
      return restart(new WorkerError('restart() terminated the worker'));
    },
    setOffline(offline) {
      ensureOpen('setOffline()');
      if (typeof offline !== 'boolean')
        return Promise.reject(new InvalidOptionError('setOffline(offline)', `takes a boolean, got ${describe(offline)}`));
      forcedOffline = offline;
      return callUntil('setOffline()', Date.now() + callTimeoutMs, () => link.call('setOffline', callTimeoutMs, offline));
    },
    async close() {
      if (closed) return;
      flush();
      // Wait for what is in flight to be stored, but not forever.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([...inflight.values(), ...outgoing].map((b) => b.settled)),
        new Promise((resolve) => {
          timer = setTimeout(resolve, drainTimeoutMs);
        }),
      ]);
      clearTimeout(timer);
      closed = true;
      globalThis.removeEventListener?.('pagehide', onPageHide);
      globalThis.removeEventListener?.('pageshow', onPageShow);
      try {
        await link.call('close', callTimeoutMs);
      } finally {
        link.kill(new WorkerError('the runtime was closed'));
        results$.complete();
      }
    },
  };
  return runtime;
}

function randomId(): string {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function asWorkerError(err: unknown, message: string): WorkerError {
  return err instanceof WorkerError ? err : new WorkerError(message);
}
