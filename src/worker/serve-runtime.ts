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
import { describe, errorParts, PipelineError, RuntimeClosedError, SnapshotError, TidemarkError } from '../errors.js';
import type {
  AppendReceipt,
  ChannelMessage,
  Columns,
  Encoding,
  LeaderStatus,
  PageMessage,
  Payload,
  RuntimeIssue,
  RuntimeStatus,
  UploadStatus,
  ViewEntry,
  WorkerApi,
} from './contract.js';
import type { Correction, WireResult } from '../protocol/wire.js';
import { browserCoordination, type Coordination } from './coordination.js';
import { openRuntimeStore } from './idb/runtime-store.js';
import type { PendingBatch, RuntimeStore } from './outbox-store.js';
import { Runner } from '../host/runner.js';
import { type Clock, systemClock } from '../time/clock.js';
import { batchEvents, outboxRunnerStore, type RowDecoder } from './runner-store.js';
import { estimateBytes, validate } from './settings.js';
import { createUploader, initialUploadStatus, type Uploader } from './uploader.js';
import { windowId } from '../windows/identity.js';
import { mergeView } from './view.js';

const UPLOAD_DISABLED = initialUploadStatus('disabled');

/** Bounds of the outbox, and what happens when an append would exceed them (see {@link ServeRuntimeOptions.outbox}). */
export interface OutboxOptions {
  /** Most events stored (default 1 000 000). */
  readonly maxEvents?: number;
  /** Most bytes stored, as estimated from the events' JSON size (default 64 MiB). */
  readonly maxBytes?: number;
  /** Processed events older than this are deleted even if no server acknowledged them (default 7 days). */
  readonly maxAgeMs?: number;
  /** `'drop-oldest'` (default) deletes the oldest events; `'reject'` refuses new ones. */
  readonly policy?: 'reject' | 'drop-oldest';
}

/** Options of {@link serveRuntime}. */
// `E = any`: an unannotated `events$` takes its event type from the operators.
export interface ServeRuntimeOptions<E = any, R = unknown, C extends Columns = any> {
  /**
   * The runtime's name: its IndexedDB database, leader lock and channel are
   * `tidemark:<name>`. Tabs using the same name share one outbox and one
   * pipeline state. 1–64 characters of `A–Z a–z 0–9 . _ -`.
   */
  readonly name: string;
  /** Builds the pipeline from the stream of emitted events, as for `createPipeline`. */
  readonly pipeline: (events$: Observable<E>) => Observable<R>;
  /** Decodes row `index` of a batch sent with `emitColumns` into an event. Required to accept columns. */
  readonly row?: (columns: C, index: number) => E;
  /**
   * When to checkpoint: after `everyEvents` processed events or `everyMs` ms,
   * whichever comes first (defaults 100 000 and 1 000). A crash replays at most
   * that much from the outbox.
   */
  readonly checkpoint?: { readonly everyEvents?: number; readonly everyMs?: number };
  /**
   * Outbox bounds (defaults: 1 000 000 events, 64 MiB, 7 days) and the policy
   * when an append would exceed them: `'reject'` refuses new events,
   * `'drop-oldest'` (default) deletes the oldest unprocessed ones. Processed
   * events waiting only for the server always go first.
   */
  readonly outbox?: OutboxOptions;
  /** How many windows the view keeps (default 100 000); the windows that ended first go. */
  readonly view?: { readonly maxWindows?: number };
  /** How long IndexedDB `open()` may take before it counts as stalled (default 10 000 ms). */
  readonly openTimeoutMs?: number;
  /**
   * An event's time for the server log (the wire's `ts`). Default: the
   * event's `ts`, `timestamp` or `time` field when it is a finite number,
   * else the time the event was appended. The batch layer re-runs the
   * pipeline over the events themselves; `ts` is for export and analysis.
   */
  readonly timestamp?: (event: E) => number;
  /**
   * The uploader, once the page gives an endpoint (`createRuntime({ endpoint, token })`):
   * `maxBatchBytes` per request (default 512 KiB); retry backoff with full
   * jitter from `minBackoffMs` to `maxBackoffMs` (defaults 500 and 60 000),
   * and a pause of half to all of `maxBackoffMs` after a wrong token or URL
   * (`docs/protocol.md`); `requestTimeoutMs` (default 30 000); corrections
   * pulled every `correctionsEveryMs` while idle (default 10 000).
   */
  readonly upload?: {
    readonly maxBatchBytes?: number;
    readonly minBackoffMs?: number;
    readonly maxBackoffMs?: number;
    readonly requestTimeoutMs?: number;
    readonly correctionsEveryMs?: number;
  };
}

const MAX_ISSUES = 10;
const MAX_GROUP_EVENTS = 32_768;

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
  const now = () => clock.now();
  const row = options.row as RowDecoder | undefined;
  const toPage =
    platform.toPage ??
    ((message: PageMessage) => (globalThis as unknown as Worker).postMessage({ tidemark: message }));
  const dbName = `tidemark:${settings.name}`;
  const issues: RuntimeIssue[] = [];
  const report = (err: unknown) => {
    issues.push({ ...errorParts(err), at: now() });
    if (issues.length > MAX_ISSUES) issues.shift();
  };

  let store: RuntimeStore | undefined;
  let coordination: Coordination | undefined;
  let host: Runner | undefined;
  let releaseLeadership: (() => void) | undefined;
  let starting: Promise<{ clientId: string }> | undefined;
  let closed = false;
  let appended = 0;
  let processedSeen = 0;
  let leaderStatus: LeaderStatus | undefined;
  /** Why the pipeline cannot go on (here, or in the leading tab), once it failed. */
  let failure: PipelineError | undefined;
  let holdsLock = false;
  let uploader: Uploader | undefined;
  let connection: { endpoint: string; token: string } | undefined;
  let uploadStatus: UploadStatus = UPLOAD_DISABLED;
  let corrections: readonly Correction[] = [];
  /** Final panes (on-time, late) not yet acknowledged by the server, by window. */
  const finalResults = new Map<string, WireResult>();
  const noteFinal = (results: readonly unknown[]) => {
    for (const r of results as ViewEntry[])
      if (r && r.timing !== 'early' && typeof r.start === 'number') {
        const id = windowId(r);
        finalResults.delete(id);
        finalResults.set(id, { key: r.key, start: r.start, end: r.end, value: r.value, pane: r.pane });
      }
  };
  const merged = (): ViewEntry[] => (host ? (mergeView(host.entries(), corrections) as ViewEntry[]) : []);
  const waiters = new Set<{ seq: number; resolve: () => void; reject: (err: Error) => void }>();
  const failed = (cause: unknown) => {
    if (failure) return;
    const { name, message } = errorParts(cause);
    failure = new PipelineError(
      `the pipeline failed (${name}: ${message}); ` +
        'events are still stored, and are processed once the pipeline is fixed and the page reloaded',
    );
    for (const w of waiters) w.reject(failure);
    waiters.clear();
  };
  // view() in a tab that does not lead asks the leader; a request waits
  // (and is asked again) until some leader, maybe this tab, has started.
  const viewRequests = new Map<string, { resolve: (entries: readonly unknown[]) => void; asked: number }>();
  const serveViews = () => {
    for (const [id, request] of viewRequests) {
      if (host) {
        viewRequests.delete(id);
        request.resolve(merged());
      } else if (now() - request.asked > 250) {
        request.asked = now();
        coordination?.post({ type: 'view?', id });
      }
    }
  };

  const progressed = (through: number) => {
    if (through <= processedSeen) return;
    processedSeen = through;
    for (const w of waiters)
      if (w.seq <= through) {
        waiters.delete(w);
        w.resolve();
      }
  };

  /** The network, and `setOffline(true)` in any tab (uploads wait, events stay in the outbox); the uploader listens. */
  const network = new OnlineState(() => globalThis.navigator?.onLine ?? true);
  /** Applies the switch here and tells the page, which applies it again to a replacement worker. */
  const applyOffline = (offline: boolean) => {
    if (network.setForcedOffline(offline)) toPage({ type: 'offline', offline });
  };

  const onMessage = (message: ChannelMessage) => {
    switch (message.type) {
      case 'appended':
        store?.othersAppended(message.last); // another tab wrote the metadata
        appended = Math.max(appended, message.last);
        host?.notify(message.last);
        break;
      case 'processed':
        leaderStatus = message.status;
        progressed(message.through);
        if (viewRequests.size > 0 && !host) serveViews();
        if (message.status.failed) failed(new Error('the leading tab reported it'));
        break;
      case 'hello':
        if (host) announce();
        if (network.forcedOffline) coordination?.post({ type: 'offline', offline: true }); // a new tab holds uploads too
        break;
      case 'offline':
        applyOffline(message.offline);
        break;
      case 'view?':
        if (host) coordination?.post({ type: 'view', id: message.id, entries: merged() });
        break;
      case 'corrections':
        toPage(message);
        break;
      case 'view':
        viewRequests.get(message.id)?.resolve(message.entries);
        viewRequests.delete(message.id);
        break;
      case 'results':
        toPage(message); // the leader's results, for this tab's page
        break;
    }
  };

  const announce = () => {
    if (!host) return;
    progressed(host.processed); // a restored checkpoint may already cover what a waiter wants
    leaderStatus = { ...leaderOf(host), upload: uploadStatus };
    coordination?.post({ type: 'processed', through: host.processed, status: leaderStatus });
  };

  const becomeLeader = async () => {
    if (closed || !store) return;
    holdsLock = true;
    const epoch = await store.claimEpoch();
    const leading: Runner = new Runner({
      store: outboxRunnerStore(store, settings.limits, clock, row),
      pipeline,
      epoch,
      checkpoint: { everyEvents: settings.everyEvents, everyMs: settings.everyMs },
      view: { maxWindows: settings.viewMaxWindows },
      clock,
      hooks: {
        results: (results) => {
          noteFinal(results);
          uploader?.wake();
          toPage({ type: 'results', results });
          coordination?.post({ type: 'results', results });
        },
        processed: announce, // announce() resolves this tab's waiters too
        error: (err) => {
          report(err);
          if (leading.failure) failed(err);
        },
      },
    });
    const held = new Promise<void>((resolve) => {
      releaseLeadership = resolve;
    });
    try {
      await leading.start();
      // Appends committed while the checkpoint loaded are known by now.
      host = leading;
      leading.notify(appended);
      noteFinal(leading.entries()); // the server keeps the latest pane: sending again is harmless
      uploader = startUploader(store);
      announce();
      serveViews();
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
      failed(reported);
    }
    await held; // the lock is held until close()
  };

  // Group commit: batches arriving while a transaction runs share the next
  // one. Two transactions are in flight at once: IndexedDB runs them in
  // order, and the second is queued before the first commits, so the worker
  // never sits idle waiting for a commit.
  // `decoded`: the events as the pipeline takes them (a JSON batch is parsed
  // once, here, which also checks it), offered to the leader after the commit.
  const queue: { batch: PendingBatch; decoded: readonly unknown[] | Columns; resolve: (r: AppendReceipt) => void }[] = [];
  const committing = new Set<Promise<void>>();
  const takeGroup = () => {
    // Bounded groups let the pipeline start on one while the next commits.
    // Rows stored as columns or JSON cost far less to store than objects to
    // clone: they weigh less, and their transactions are larger.
    const weight = (b: PendingBatch) => (b.encoding === 'structured-clone' ? b.length : b.length / 8);
    let load = 0;
    let n = 0;
    while (n < queue.length && (n === 0 || load + weight((queue[n] as (typeof queue)[number]).batch) <= MAX_GROUP_EVENTS))
      load += weight((queue[n++] as (typeof queue)[number]).batch);
    return queue.splice(0, n);
  };
  const settle = (group: typeof queue, receipts: readonly AppendReceipt[]) => {
    let last = 0;
    group.forEach((g, i) => {
      const r = receipts[i] as AppendReceipt;
      if (r.ok && r.last >= r.first) {
        last = Math.max(last, r.last);
        if (!r.duplicate)
          host?.offer({
            seq: r.first,
            last: r.last,
            events: g.batch.encoding === 'columns' ? batchEvents(g.decoded as Columns, 'columns', row) : (g.decoded as unknown[]),
          });
      } else if (!r.ok)
        report({ name: r.reason === 'limit' || r.reason === 'quota' ? 'OutboxFullError' : 'StorageError', message: r.message });
      g.resolve(r);
    });
    if (last > 0) {
      appended = Math.max(appended, last);
      coordination?.post({ type: 'appended', last });
      host?.notify(last);
      uploader?.wake();
    }
  };
  const commit = () => {
    while (queue.length > 0 && store && committing.size < 2) {
      const group = takeGroup();
      const done: Promise<void> = store
        .append(
          group.map((g) => g.batch),
          settings.limits,
          now(),
        )
        .then(
          (receipts) => settle(group, receipts),
          (err) => {
            report(err);
            const { message } = errorParts(err);
            settle(
              group,
              group.map((g) => ({ ok: false, refused: g.batch.length, reason: 'storage', message })),
            );
          },
        )
        .finally(() => {
          committing.delete(done);
          commit();
        });
      committing.add(done);
    }
  };

  const startUploader = (s: RuntimeStore): Uploader => {
    const up = createUploader({
      store: s,
      clientId: s.clientId,
      settings: settings.upload,
      decode: (record) => {
        const events = decode(record.events, record.encoding, record.last - record.seq + 1);
        if (typeof events === 'string') throw new TidemarkError(`outbox record ${record.seq}: ${events}`);
        if (!Array.isArray(events)) {
          const row = options.row as ((columns: Columns, index: number) => unknown) | undefined;
          if (!row) throw new TidemarkError('a columnar batch cannot be uploaded without a `row` option; pass row to serveRuntime');
          const cols = events as Columns;
          return Array.from({ length: cols.length }, (_, i) => row(cols, i));
        }
        return events;
      },
      timestamp: (event, record) => {
        if (options.timestamp) return (options.timestamp as (e: unknown) => number)(event);
        const e = event as { ts?: unknown; timestamp?: unknown; time?: unknown } | null;
        for (const t of [e?.ts, e?.timestamp, e?.time]) if (typeof t === 'number' && Number.isFinite(t)) return t;
        return record.at;
      },
      results: () => {
        const pending = [...finalResults.values()];
        return {
          pending,
          sent: () => {
            // Only what was sent; a newer pane that fired meanwhile stays pending.
            for (const r of pending) if (finalResults.get(windowId(r)) === r) finalResults.delete(windowId(r));
          },
        };
      },
      onStatus: (s2) => {
        uploadStatus = s2;
        if (s2.state !== 'uploading') announce();
      },
      onCorrections: (c) => {
        corrections = c.entries;
        toPage({ type: 'corrections' });
        coordination?.post({ type: 'corrections' });
      },
      onUnauthorized: () => toPage({ type: 'token?' }),
      report,
      clock,
      network,
    });
    if (connection) up.connect(connection.endpoint, connection.token);
    return up;
  };
  const onOnline = () => network.setNetwork(true);
  const onOffline = () => network.setNetwork(false);
  globalThis.addEventListener?.('online', onOnline);
  globalThis.addEventListener?.('offline', onOffline);

  const requireStarted = (call: string): RuntimeStore => {
    if (closed) throw new RuntimeClosedError(`${call} after close(); create a new runtime`);
    if (!store) throw new TidemarkError(`${call} before start()`);
    return store;
  };

  const api: WorkerApi = {
    start() {
      starting ??= (async () => {
        store = await (platform.openStore ?? openRuntimeStore)(dbName, settings.openTimeoutMs);
        appended = store.openedAt;
        coordination = (platform.coordination ?? browserCoordination)(settings.name, report);
        coordination.listen(onMessage);
        coordination.lead(becomeLeader);
        coordination.post({ type: 'hello' });
        return { clientId: store.clientId };
      })();
      return starting;
    },

    append(batchId, payload, encoding, length, resent) {
      requireStarted('append()');
      const decoded = decode(payload, encoding, length);
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
      return new Promise<AppendReceipt>((resolve) => {
        queue.push({ batch, decoded, resolve });
        commit();
      });
    },

    processed(seq) {
      requireStarted('processed()');
      if (seq <= processedSeen) return Promise.resolve();
      coordination?.post({ type: 'hello' });
      if (failure) return Promise.reject(failure);
      return new Promise<void>((resolve, reject) => waiters.add({ seq, resolve, reject }));
    },

    async view() {
      requireStarted('view()');
      // Read your writes: everything durable when view() was called is in the answer.
      await api.processed(appended);
      if (host) return merged();
      const id = `${now()}-${Math.random()}`;
      const entries = await new Promise<readonly unknown[]>((resolve) => {
        viewRequests.set(id, { resolve, asked: now() });
        coordination?.post({ type: 'view?', id });
      });
      return entries as ViewEntry[];
    },

    async status(): Promise<RuntimeStatus> {
      const s = requireStarted('status()');
      const totals = await s.totals();
      const leader = (host && leaderOf(host)) ?? leaderStatus;
      return {
        clientId: s.clientId,
        leader: holdsLock && !closed,
        online: network.online,
        outbox: { events: totals.events, bytes: totals.bytes, records: totals.records },
        appended,
        processed: processedSeen,
        watermark: leader?.watermark ?? Number.NEGATIVE_INFINITY,
        lastCheckpoint: leader?.lastCheckpoint ?? null,
        state: { openWindows: leader?.openWindows ?? 0, viewWindows: leader?.viewWindows ?? 0 },
        lateRecords: leader?.lateRecords ?? 0,
        dropped: totals.dropped,
        refused: totals.refused,
        expired: totals.expired,
        failed: failure !== undefined || (leader?.failed ?? false),
        errors: [...issues],
        upload: host ? uploadStatus : (leader?.upload ?? uploadStatus),
      };
    },

    async checkpoint() {
      requireStarted('checkpoint()');
      if (!host) return null;
      await host.checkpoint();
      return host.processed;
    },

    async connect(endpoint, token) {
      requireStarted('connect()');
      if (typeof endpoint !== 'string' || typeof token !== 'string') throw new TidemarkError('connect(endpoint, token) takes two strings');
      connection = { endpoint, token };
      uploader?.connect(endpoint, token);
    },

    async setOffline(offline) {
      requireStarted('setOffline()');
      if (typeof offline !== 'boolean') throw new TidemarkError(`setOffline(offline) takes a boolean, got ${describe(offline)}`);
      applyOffline(offline);
      coordination?.post({ type: 'offline', offline });
    },

    async close() {
      if (closed) return;
      while (committing.size > 0 || queue.length > 0) await Promise.all(committing);
      await uploader?.flushOnExit().catch(report);
      uploader?.stop();
      uploader = undefined;
      globalThis.removeEventListener?.('online', onOnline);
      globalThis.removeEventListener?.('offline', onOffline);
      closed = true;
      await host?.stop(true);
      host = undefined;
      releaseLeadership?.();
      coordination?.close();
      store?.close();
    },
  };
  return api;
}

/** What the leading tab tells the others of its runner. */
function leaderOf(runner: Runner): LeaderStatus {
  const { watermark, lastCheckpoint, openWindows, viewWindows, lateRecords, failed } = runner.status();
  return { watermark, lastCheckpoint, openWindows, viewWindows, lateRecords, failed };
}

/** The events of a batch as the pipeline takes them, or why the batch is malformed. */
function decode(payload: Payload, encoding: Encoding, length: number): readonly unknown[] | Columns | string {
  if (!Number.isSafeInteger(length) || length < 0) return `malformed batch: length ${describe(length)}`;
  let events: unknown = payload;
  if (encoding === 'json') {
    if (typeof payload !== 'string') return 'malformed batch: a JSON batch must be a string';
    try {
      events = JSON.parse(payload);
    } catch {
      return 'malformed batch: not valid JSON';
    }
  } else if (encoding === 'columns') {
    return (payload as Columns | null)?.length === length ? (payload as Columns) : 'malformed columns: wrong length';
  } else if (encoding !== 'structured-clone') return `malformed batch: unknown encoding ${describe(encoding)}`;
  return Array.isArray(events) && events.length === length
    ? events
    : `malformed batch: expected an array of ${length} events`;
}

