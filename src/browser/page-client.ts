/**
 * The page side of the browser runtime, over a {@link OpenSender} (a Web
 * Worker in a browser, a fake in tests): the {@link Runtime} that
 * `createRuntime` answers, wired from its parts: the batch queue (what is
 * not durable yet), the worker supervisor (restarts), `drain()`, `view$`,
 * `status$`, and the page's lifecycle (pagehide, the back/forward cache).
 * Every wait runs on the settings' clock.
 *
 * @module
 */
import { Subject } from 'rxjs';
import { describe, InvalidOptionError, RuntimeClosedError, WorkerError } from '../errors.js';
import { OnlineState } from '../host/online.js';
import type { Columns } from '../worker/contract.js';
import { type BatchQueue, batchQueue } from './batch-queue.js';
import { drain, settleWithin } from './drain.js';
import { IssueLog } from './issue-log.js';
import { requestPersistence } from './persist.js';
import type { PageSettings } from './runtime-options.js';
import type { PageStatus, Runtime } from './runtime.js';
import type { OpenSender, Sender } from './sender.js';
import { statusFeed } from './status-feed.js';
import { viewFeed } from './view-feed.js';
import { type WorkerSupervisor, workerSupervisor } from './worker-supervisor.js';

/**
 * Starts the first worker through `open` and answers the runtime; rejects
 * (after terminating that worker) if it does not start.
 */
export async function startPageClient<E = unknown, R = unknown>(settings: PageSettings, open: OpenSender): Promise<Runtime<E, R>> {
  const { clock, callTimeoutMs, drainTimeoutMs } = settings;
  const issues = new IssueLog(clock);
  const { report } = issues;
  const results$ = new Subject<R>();
  /** view$ subscribers to tell that the view changed. */
  const viewChanged = new Set<() => void>();

  const supervisor: WorkerSupervisor = workerSupervisor({
    open,
    clock,
    callTimeoutMs,
    startTimeoutMs: settings.startTimeoutMs,
    endpoint: settings.endpoint,
    token: settings.token,
    online: startOnline(settings.offline),
    report,
    onMessage(message) {
      if (message.type === 'results') for (const r of message.results) results$.next(r as R);
      if (message.type === 'results' || message.type === 'corrections') for (const changed of viewChanged) changed();
    },
    restarted() {
      queue.resendAll();
      if (!supervisor.closed) queue.send();
    },
  });
  await supervisor.start();
  const persist = settings.persist ? requestPersistence(clock, callTimeoutMs, report) : () => 'not-asked' as const;
  const queue: BatchQueue = batchQueue({
    encoding: settings.encoding,
    batchSize: settings.batchSize,
    callTimeoutMs,
    clock,
    report,
    target: () => supervisor.ready,
    lost(err) {
      if (!supervisor.closed) void supervisor.restart(err);
    },
  });

  const ensureOpen = (call: string) => {
    if (supervisor.closed) throw new RuntimeClosedError(`${call} after close(); create a new runtime`);
  };
  /** A call with the usual time limit, riding out a restart. */
  const ask = <T>(what: string, call: (link: Sender) => Promise<T>): Promise<T> => {
    ensureOpen(what);
    return supervisor.callUntil(what, clock.now() + callTimeoutMs, call);
  };

  // Leaving the page: send what is queued, then ask the worker for a final
  // checkpoint, to release leadership and to close its database connection,
  // which also lets the page enter the back/forward cache. Best effort: on an
  // unload the browser usually terminates the worker first. If the page comes
  // back from that cache, a new worker starts.
  let hidden = false;
  const onPageHide = () => {
    queue.flush();
    if (supervisor.hide()) hidden = true;
  };
  const onPageShow = (e: Event) => {
    if (hidden && (e as PageTransitionEvent).persisted && !supervisor.closed) {
      hidden = false;
      void supervisor.restart(new WorkerError('the page came back from the back/forward cache'));
    }
  };
  globalThis.addEventListener?.('pagehide', onPageHide);
  globalThis.addEventListener?.('pageshow', onPageShow);

  const status$ = statusFeed<PageStatus>(
    async () => {
      const status = await supervisor.callUntil('status()', 0, (link) => link.call('status', callTimeoutMs)).catch(() => undefined);
      return (
        status && {
          ...status,
          storage: { ...status.storage, persist: persist() },
          errors: [...status.errors, ...issues.latest()],
          pending: queue.pending,
          restarts: supervisor.restarts,
        }
      );
    },
    settings.statusIntervalMs,
    clock,
  );

  const runtime: Runtime<E, R> = {
    clientId: supervisor.clientId,
    view$: viewFeed({
      read: () => runtime.view(),
      changes(listener) {
        viewChanged.add(listener);
        return () => viewChanged.delete(listener);
      },
      clock,
      report,
      closed: () => supervisor.closed,
    }),
    emit(event) {
      if (supervisor.closed) {
        report(new RuntimeClosedError('emit() after close(); the event was not recorded'));
        return false;
      }
      queue.push(event);
      return true;
    },
    emitColumns(columns) {
      const length = (columns as Columns | null)?.length;
      if (supervisor.closed || typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) {
        report(
          supervisor.closed
            ? new RuntimeClosedError('emitColumns() after close(); the batch was not recorded')
            : new InvalidOptionError('emitColumns(columns)', `expected columns with a whole-number length, got ${describe(length)}`),
        );
        return false;
      }
      queue.pushColumns(columns, length);
      return true;
    },
    async drain() {
      ensureOpen('drain()');
      return drain(queue, supervisor, clock, drainTimeoutMs);
    },
    results$: results$.asObservable(),
    view: () => ask('view()', (link) => link.call('view', callTimeoutMs)),
    status$,
    checkpoint: () => ask('checkpoint()', (link) => link.call('checkpoint', callTimeoutMs)),
    restart() {
      ensureOpen('restart()');
      return supervisor.restart(new WorkerError('restart() terminated the worker'));
    },
    setOffline(offline) {
      ensureOpen('setOffline()');
      if (typeof offline !== 'boolean')
        return Promise.reject(new InvalidOptionError('setOffline(offline)', `takes a boolean, got ${describe(offline)}`));
      return supervisor.setOffline(offline);
    },
    async close() {
      if (supervisor.closed) return;
      queue.flush();
      // Wait for what is in flight to be stored, but not forever.
      await settleWithin(clock, drainTimeoutMs, queue.unsettled());
      supervisor.close();
      globalThis.removeEventListener?.('pagehide', onPageHide);
      globalThis.removeEventListener?.('pageshow', onPageShow);
      try {
        await supervisor.link.call('close', callTimeoutMs);
      } finally {
        supervisor.link.kill(new WorkerError('the runtime was closed'));
        results$.complete();
      }
    },
  };
  return runtime;
}

/** The page's switch, held from the start when the app asked for it. */
function startOnline(offline: boolean): OnlineState {
  const online = new OnlineState();
  online.setForcedOffline(offline);
  return online;
}
