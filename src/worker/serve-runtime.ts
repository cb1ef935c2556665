/**
 * `serveRuntime`: the worker side of the browser runtime. Appends every
 * batch to the IndexedDB outbox first (grouped: one transaction for all
 * batches waiting), and, in the one tab that holds the leader lock, runs the
 * pipeline over the outbox with exactly-once checkpoints.
 *
 * @module
 */
import { expose } from 'comlink';
import type { Observable } from 'rxjs';
import { createPipeline } from '../checkpoint/pipeline.js';
import { OnlineState } from '../host/online.js';
import { describe, errorParts, RuntimeClosedError, SnapshotError, TidemarkError } from '../errors.js';
import { type Clock, systemClock } from '../time/clock.js';
import { AppendQueue, decodeBatch } from './append-queue.js';
import type { Columns, PageMessage, RuntimeIssue, RuntimeStatus, StorageStatus, WorkerApi } from './contract.js';
import type { ServeRuntimeOptions } from './runtime-options.js';
import { browserCoordination, type Coordination } from './coordination.js';
import { openRuntimeStore } from './idb/runtime-store.js';
import { Leader, type LeaderDeps } from './leader.js';
import type { PendingBatch, RuntimeStore } from './outbox-store.js';
import { Progress } from './progress.js';
import { batchEvents, type RowDecoder } from './runner-store.js';
import { estimateBytes, validate } from './settings.js';
import { Tabs } from './tabs.js';
import { initialUploadStatus } from './uploader.js';

const UPLOAD_DISABLED = initialUploadStatus('disabled');

const MAX_ISSUES = 10;

/**
 * Serves the Tidemark runtime from a module Web Worker: call it once at the
 * top of your worker module, and create the page side with
 * `createRuntime` from `tidemark/browser`.
 *
 * Every batch the page sends is appended to the IndexedDB outbox with
 * per-client sequence numbers before the pipeline sees it. The tab holding
 * the leader lock restores the latest checkpoint, replays the outbox after
 * the position it covers, and checkpoints the pipeline's snapshot, its view
 * and that position in one transaction: a reload, a crash or a closed
 * leader tab loses nothing and counts nothing twice.
 *
 * @param options - the pipeline and its storage settings; validated now
 * @throws {@link InvalidOptionError} for invalid options (the page's
 *   `createRuntime` then rejects with the message)
 * @example
 * ```ts
 * import { serveRuntime } from 'tidemark/worker';
 * import { eventTime, windowBy, tumbling, count } from 'tidemark';
 * serveRuntime({
 *   name: 'analytics',
 *   pipeline: (events$) => events$.pipe(
 *     eventTime({ timestamp: (e: { page: string; ts: number }) => e.ts, maxOutOfOrderness: 2_000 }),
 *     windowBy({ key: (e) => e.page, window: tumbling(60_000), aggregate: count() })),
 *   checkpoint: { everyEvents: 10_000, everyMs: 1_000 },
 *   outbox: { maxEvents: 1_000_000, policy: 'drop-oldest' },
 * });
 * ```
 */
export function serveRuntime<E = any, R = unknown, C extends Columns = any>(options: ServeRuntimeOptions<E, R, C>): void {
  const api = createWorkerApi(options);
  expose(api, globalThis as unknown as Parameters<typeof expose>[1]);
}

/**
 * `navigator.storage`'s answers (null where the engine has no StorageManager,
 * as WebKit without its StorageAPI feature); each raced against a second:
 * in automation, some engines never settle them.
 */
async function storageEstimate(clock: Clock): Promise<Pick<StorageStatus, 'persisted' | 'usage' | 'quota'>> {
  const manager = (globalThis.navigator as Navigator | undefined)?.storage;
  const settle = <T>(p: Promise<T> | undefined): Promise<T | null> =>
    p ? Promise.race([p.catch(() => null), new Promise<null>((r) => clock.timeout(() => r(null), 1_000))]) : Promise.resolve(null);
  const [estimate, persisted] = await Promise.all([settle(manager?.estimate?.()), settle(manager?.persisted?.())]);
  return { persisted: persisted ?? null, usage: estimate?.usage ?? null, quota: estimate?.quota ?? null };
}

/** Builds the worker API without exposing it (tests drive it directly). @internal */
export function createWorkerApi<E, R, C extends Columns>(
  options: ServeRuntimeOptions<E, R, C>,
  platform: {
    openStore?: (name: string, openTimeoutMs: number) => Promise<RuntimeStore>;
    coordination?: (name: string, onError: (err: unknown) => void) => Coordination;
    /** Posts to this worker's page (default: `postMessage` on the worker scope). */
    toPage?: (message: PageMessage) => void;
    /** Time and timers (default the platform's). */
    clock?: Clock;
  } = {},
): WorkerApi {
  const settings = validate(options);
  const pipeline = createPipeline(options.pipeline as (events$: Observable<unknown>) => Observable<unknown>);
  const clock = platform.clock ?? systemClock;
  const row = options.row as RowDecoder | undefined;
  const toPage =
    platform.toPage ??
    ((message: PageMessage) => (globalThis as unknown as Worker).postMessage({ tidemark: message }));
  const issues: RuntimeIssue[] = [];
  const report = (err: unknown) => {
    issues.push({ ...errorParts(err), at: clock.now() });
    if (issues.length > MAX_ISSUES) issues.shift();
  };
  const progress = new Progress();
  /** The network, and `setOffline(true)` in any tab (uploads wait, events stay in the outbox); the uploader listens. */
  const network = new OnlineState(() => globalThis.navigator?.onLine ?? true);

  let opened: { store: RuntimeStore; queue: AppendQueue; coordination: Coordination; tabs: Tabs } | undefined;
  let leader: Leader | undefined;
  let releaseLeadership: (() => void) | undefined;
  let starting: Promise<{ clientId: string }> | undefined;
  let closed = false;
  let holdsLock = false;
  /** The highest sequence known to be durable, by any tab. */
  let appended = 0;
  let connection: { endpoint: string; token: string } | undefined;

  const becomeLeader = async () => {
    if (closed || !opened) return;
    const { store, coordination, tabs } = opened;
    holdsLock = true;
    const held = new Promise<void>((resolve) => {
      releaseLeadership = resolve;
    });
    try {
      const deps: LeaderDeps = {
        store,
        epoch: await store.claimEpoch(),
        pipeline,
        settings,
        row,
        timestamp: options.timestamp as ((event: unknown) => number) | undefined,
        clock,
        network,
        hooks: {
          results: (results) => {
            toPage({ type: 'results', results });
            coordination.post({ type: 'results', results });
          },
          progressed: () => tabs.announce(), // announce() resolves this tab's waiters too
          corrections: () => {
            toPage({ type: 'corrections' });
            coordination.post({ type: 'corrections' });
          },
          tokenWanted: () => toPage({ type: 'token?' }),
          report,
          failed: (err) => progress.fail(err),
        },
      };
      const given = connection;
      const started = await Leader.start(deps, given);
      if (closed) {
        await started.stop();
        return;
      }
      // Appends committed while the checkpoint loaded are known by now.
      leader = started;
      // connect() while the checkpoint loaded reached no leader: give it now.
      if (connection && connection !== given) leader.connect(connection.endpoint, connection.token);
      leader.appended(appended);
      tabs.announce();
      tabs.serveViews();
    } catch (err) {
      // Typically a checkpoint made by a different pipeline (the code changed):
      // keep storing events, and say how to get out.
      const reported =
        err instanceof SnapshotError
          ? new SnapshotError(
              `the latest checkpoint cannot be restored into this pipeline (${err.message}); events are still ` +
                'stored. Deploy the previous pipeline, or give serveRuntime a new name to start from an empty state',
            )
          : err;
      report(reported);
      progress.fail(reported);
    }
    await held; // the lock is held until close()
  };

  const open = async (): Promise<NonNullable<typeof opened>> => {
    const store = await (
      platform.openStore ??
      ((name, ms) => openRuntimeStore(name, ms, clock, { transactionTimeoutMs: settings.transactionTimeoutMs, onRecovery: report }))
    )(`tidemark:${settings.name}`, settings.openTimeoutMs);
    appended = store.openedAt;
    const coordination = (platform.coordination ?? browserCoordination)(settings.name, report);
    const queue = new AppendQueue(store, settings.limits, clock, {
      stored: ({ batch, decoded }, first, last) =>
        leader?.runner.offer({ seq: first, last, events: batch.encoding === 'columns' ? batchEvents(decoded as Columns, 'columns', row) : (decoded as unknown[]) }),
      appended: (last) => {
        appended = Math.max(appended, last);
        coordination.post({ type: 'appended', last });
        leader?.appended(last);
      },
      report,
    });
    const tabs = new Tabs({
      coordination,
      clock,
      progress,
      network,
      leader: () => leader,
      othersAppended: (last) => {
        store.othersAppended(last); // another tab wrote the metadata
        appended = Math.max(appended, last);
        leader?.appended(last);
      },
      toPage,
    });
    return { store, queue, coordination, tabs };
  };

  const onOnline = () => network.setNetwork(true);
  const onOffline = () => network.setNetwork(false);
  globalThis.addEventListener?.('online', onOnline);
  globalThis.addEventListener?.('offline', onOffline);

  const requireStarted = (call: string): NonNullable<typeof opened> => {
    if (closed) throw new RuntimeClosedError(`${call} after close(); create a new runtime`);
    if (!opened) throw new TidemarkError(`${call} before start()`);
    return opened;
  };

  const api: WorkerApi = {
    start() {
      starting ??= (async () => {
        opened = await open();
        const { coordination, tabs, store } = opened;
        coordination.listen((message) => tabs.receive(message));
        coordination.lead(becomeLeader);
        coordination.post({ type: 'hello' });
        return { clientId: store.clientId };
      })();
      return starting;
    },

    append(batchId, payload, encoding, length, resent) {
      const { queue } = requireStarted('append()');
      const decoded = decodeBatch(payload, encoding, length);
      if (typeof batchId !== 'string' || typeof decoded === 'string')
        return Promise.resolve({
          ok: false,
          refused: Number.isSafeInteger(length) ? length : 0,
          reason: 'invalid',
          message: typeof decoded === 'string' ? decoded : 'malformed batch id',
        });
      const batch: PendingBatch = {
        id: batchId,
        events: payload,
        encoding,
        length,
        bytes: estimateBytes(payload, encoding),
        resent: resent !== false,
      };
      return queue.push(batch, decoded);
    },

    processed(seq) {
      const { coordination } = requireStarted('processed()');
      if (seq > progress.processed) coordination.post({ type: 'hello' });
      return progress.wait(seq);
    },

    async view() {
      const { tabs } = requireStarted('view()');
      // Read your writes: everything durable when view() was called is in the answer.
      await api.processed(appended);
      return tabs.view();
    },

    async status(): Promise<RuntimeStatus> {
      const { store, tabs } = requireStarted('status()');
      const totals = await store.totals();
      const status = leader?.status() ?? tabs.leaderStatus;
      return {
        clientId: store.clientId,
        leader: holdsLock && !closed,
        online: network.online,
        outbox: { events: totals.events, bytes: totals.bytes, records: totals.records },
        appended,
        processed: progress.processed,
        watermark: status?.watermark ?? Number.NEGATIVE_INFINITY,
        lastCheckpoint: status?.lastCheckpoint ?? null,
        state: { openWindows: status?.openWindows ?? 0, viewWindows: status?.viewWindows ?? 0 },
        lateRecords: status?.lateRecords ?? 0,
        dropped: totals.dropped,
        refused: totals.refused,
        expired: totals.expired,
        failed: progress.failure !== undefined || (status?.failed ?? false),
        errors: [...issues],
        upload: status?.upload ?? UPLOAD_DISABLED,
        storage: { ...(store.health?.() ?? { database: `tidemark:${settings.name}`, reopened: 0, moved: 0, vanished: 0 }), ...(await storageEstimate(clock)) },
      };
    },

    async checkpoint() {
      requireStarted('checkpoint()');
      if (!leader) return null;
      await leader.runner.checkpoint();
      return leader.runner.processed;
    },

    async connect(endpoint, token) {
      requireStarted('connect()');
      if (typeof endpoint !== 'string' || typeof token !== 'string') throw new TidemarkError('connect(endpoint, token) takes two strings');
      connection = { endpoint, token };
      leader?.connect(endpoint, token);
    },

    async setOffline(offline) {
      const { tabs } = requireStarted('setOffline()');
      if (typeof offline !== 'boolean') throw new TidemarkError(`setOffline(offline) takes a boolean, got ${describe(offline)}`);
      tabs.setOffline(offline);
    },

    async close() {
      if (closed) return;
      await opened?.queue.flush();
      globalThis.removeEventListener?.('online', onOnline);
      globalThis.removeEventListener?.('offline', onOffline);
      closed = true;
      await leader?.stop();
      leader = undefined;
      releaseLeadership?.();
      opened?.coordination.close();
      opened?.store.close();
    },
  };
  return api;
}
