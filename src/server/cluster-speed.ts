/// <reference types="node" />
/**
 * The global speed layer and the served view on a NATS JetStream cluster
 * (`tidemark serve --nats URL --pipeline …`), with no state on the server's
 * disk:
 *
 * - **Partitions.** Clients are split into `partitions` by
 *   {@link partitionOf}; each partition runs the pipeline on the
 *   {@link Runner} over its clients' events in the log stream, one
 *   watermark per client.
 * - **Leases.** A partition is run by the one process holding its lease
 *   (`lease.<p>` in the bucket, renewed every third of `leaseTtlMs` with
 *   the revision it last wrote). A lease whose revision has not moved for
 *   `leaseTtlMs` (by the observer's own clock) is taken over with that
 *   revision expected. Processes share partitions evenly: each announces
 *   itself (`member.<id>`), takes at most its share, and hands surplus
 *   ones back.
 * - **Fencing.** A new owner first rewrites the partition's checkpoint
 *   (`cp.<p>`) with the revision it read expected, then publishes a fence
 *   (its term) on the partition's panes subject. From then on every
 *   checkpoint write of the old owner is refused, and every process's fold
 *   ignores the old owner's panes after the fence; the old owner stops at
 *   either. So two owners never both write a partition's checkpoint, and
 *   the view never counts an old owner's pane after a takeover.
 * - **The view.** Every process folds the view stream (every partition's
 *   panes, combined across partitions with the pipeline module's `merge`,
 *   and the batch layer's views) into the same served view, with change
 *   ids derived from stream sequences: a dashboard can resume on any
 *   process.
 *
 * @module
 */
import { hostname } from 'node:os';
import { createPipeline, type Pipeline } from '../checkpoint/pipeline.js';
import type { PipelineSnapshot } from '../checkpoint/snapshot.js';
import { describe, InvalidOptionError, StorageError } from '../errors.js';
import { PartitionMerge } from '../host/partition-merge.js';
import type { BatchPipeline } from '../host/pipeline-session.js';
import { Runner, type RunnerStatus } from '../host/runner.js';
import { ServingView } from '../host/serving-view.js';
import { type TailCheckpoint, TailStore } from '../host/tail-store.js';
import { ViewHub } from '../host/view-hub.js';
import { partitionOf } from '../protocol/partition.js';
import type { ViewChange } from '../protocol/wire.js';
import { type Clock, systemClock } from '../time/clock.js';
import { type WindowValue, windowId } from '../windows/identity.js';
import type { GlobalSpeedLayer, GlobalSpeedStatus } from './global-speed.js';
import { speedMetrics } from './global-speed.js';
import type { ClusterNats, FollowedMessage } from './jetstream-cluster.js';
import type { CorrectionStore } from './corrections-store.js';
import type { EventLog } from '../host/ingest/log.js';
import { reconcile, type ReconcileReport } from './reconcile.js';
import type { ResultStore } from './results-store.js';
import { clientOf, decodeBody, decodeCoverage, encodeCoverage } from './jetstream-format.js';
import { Coverage, freshOnce } from '../host/ingest/coverage.js';

/** Options of {@link clusterSpeedLayer}. */
export interface ClusterSpeedOptions {
  /** NATS server URL(s) of the cluster. */
  readonly servers: string | readonly string[];
  /** The log's stream (as given to `jetStreamLog`). Default `'TIDEMARK'`. */
  readonly stream?: string;
  /** The log's subject prefix. Default `'tidemark'`. */
  readonly subjectPrefix?: string;
  /** The clients' pipeline. */
  readonly pipeline: BatchPipeline;
  /**
   * Combines the values two partitions computed for one window: the
   * aggregate's `merge` when its result is its accumulator (`count`, `sum`,
   * `min`, `max`). Needed when `partitions` > 1.
   */
  readonly merge?: (a: never, b: never) => unknown;
  /** How many partitions the clients are split into (default 1; the same in every process). */
  readonly partitions?: number;
  /** Replicas of the bucket and the view stream (default 1; 3 on a 3-node cluster). */
  readonly replicas?: number;
  /** A lease not renewed for this long is taken over (ms, default 10 000). */
  readonly leaseTtlMs?: number;
  /** This process's name in leases (default `<hostname>-<pid>-<random>`). */
  readonly owner?: string;
  /** A client silent this long stops holding its partition's watermark back (ms, default 60 000). */
  readonly idleTimeout?: number;
  /** Checkpoint a partition after this many events or ms (defaults 100 000 and 5 000). */
  readonly checkpoint?: { readonly everyEvents?: number; readonly everyMs?: number };
  /** Windows the served view keeps (default 100 000). */
  readonly maxWindows?: number;
  /** How long a request to NATS may take (ms, default 5 000). */
  readonly timeoutMs?: number;
  readonly clock?: Clock;
  /** Called when this process takes, loses or hands back a partition. */
  readonly onOwnership?: (event: OwnershipEvent) => void;
  /** Called when processing fails (a pipeline error, NATS unreachable). */
  readonly onError?: (error: unknown) => void;
}

/** A change of which partitions this process runs. */
export interface OwnershipEvent {
  readonly kind: 'acquired' | 'took-over' | 'lost' | 'released';
  readonly partition: number;
  /** The partitions this process runs after the change. */
  readonly owned: readonly number[];
  /** For `took-over`: how long the lease had stood still before it was taken (ms). */
  readonly staleMs?: number;
  /** For `lost`: why. */
  readonly reason?: string;
}

/** The cluster's global speed layer: a {@link GlobalSpeedLayer} with ownership. */
export interface ClusterSpeedLayer extends GlobalSpeedLayer {
  /** The partitions this process runs now. */
  owned(): number[];
  /** The number of partitions. */
  readonly partitions: number;
  /** This process's name in the leases. */
  readonly owner: string;
  status(): ClusterSpeedStatus;
  /**
   * The batch layer, split like the speed layer: {@link reconcile} over the
   * clients of each partition this process owns (their corrections written,
   * their part of the batch view published to the cluster, where every
   * process combines the parts with `merge`). Answers the runs' reports
   * added up; `global` is empty (the parts went to the view).
   */
  runBatch(inputs: { readonly log: EventLog; readonly results: ResultStore; readonly corrections: CorrectionStore }, now: () => number): Promise<ReconcileReport>;
}

/** What the cluster's speed layer reports. */
export interface ClusterSpeedStatus extends GlobalSpeedStatus {
  readonly owned: readonly number[];
  /** Partitions taken over from a process that stopped renewing, since start. */
  readonly takeovers: number;
}

const DEFAULT_TTL = 10_000;
const DEFAULT_MAX_WINDOWS = 100_000;
/** Change ids: a message's changes are numbered from its stream sequence × this, so every process numbers them alike. */
const IDS_PER_MESSAGE = 2 ** 20;
/** Unprocessed events a partition reads ahead of its pipeline at most. */
const READ_AHEAD = 100_000;

const KNOWN = [
  'servers',
  'stream',
  'subjectPrefix',
  'pipeline',
  'merge',
  'partitions',
  'replicas',
  'leaseTtlMs',
  'owner',
  'idleTimeout',
  'checkpoint',
  'maxWindows',
  'timeoutMs',
  'clock',
  'onOwnership',
  'onError',
] as const;

/**
 * Starts this process's part of the global speed layer on a NATS JetStream
 * cluster: it joins the members, takes its share of the partitions' leases
 * (taking over those of processes that stopped renewing), runs them, and
 * serves the whole view folded from the view stream. Every process of a
 * deployment must be given the same `partitions`, pipeline and `merge`.
 *
 * @throws {@link InvalidOptionError} for bad options, or a bucket or stream whose configuration cannot hold the state (the message says what to change);
 *   {@link StorageError} when NATS cannot be reached; `MissingDependencyError` without the NATS client packages
 * @example
 * ```ts
 * import { count, eventTime, tumbling, windowBy } from 'tidemark';
 * import { clusterSpeedLayer, jetStreamLog } from 'tidemark/server';
 * const servers = 'nats://127.0.0.1:4222';
 * const log = await jetStreamLog({ servers });
 * const speed = await clusterSpeedLayer({
 *   servers,
 *   partitions: 4,
 *   merge: (a: number, b: number) => a + b, // count()'s merge
 *   pipeline: (events$) => events$.pipe(
 *     eventTime({ timestamp: (e: { ts: number }) => e.ts, maxOutOfOrderness: 0 }),
 *     windowBy({ key: () => 'all', window: tumbling(1_000), aggregate: count() })),
 * });
 * console.log(speed.owned()); // e.g. [0, 1, 2, 3] when alone
 * await log.append('phone', [{ seq: 1, ts: 100, data: { ts: 100 } }, { seq: 2, ts: 1_500, data: { ts: 1_500 } }], Date.now());
 * await speed.idle();
 * console.log(speed.rows({}).rows[0]?.value); // 1
 * await speed.close();
 * await log.close();
 * ```
 */
export async function clusterSpeedLayer(options: ClusterSpeedOptions): Promise<ClusterSpeedLayer> {
  const s = validate(options);
  const { loadOptional } = await import('./optional-package.js');
  const { openClusterNats } = await loadOptional(
    'the cluster speed layer',
    ['@nats-io/transport-node@^3.4.0', '@nats-io/jetstream@^3.4.0', '@nats-io/kv@^3.4.0'],
    () => import('./jetstream-cluster.js'),
  );
  const nats = await openClusterNats({
    servers: s.servers,
    stream: s.stream,
    prefix: s.prefix,
    replicas: s.replicas,
    // A request that cannot be answered within half a lease must not hold the renewals up.
    timeoutMs: Math.min(options.timeoutMs ?? 5_000, Math.max(250, Math.floor(s.ttl / 2))),
    clock: options.clock ?? systemClock,
  });
  try {
    return await startCluster(nats, s, options);
  } catch (e) {
    await nats.close();
    throw e;
  }
}

interface Settings {
  readonly servers: string[];
  readonly stream: string;
  readonly prefix: string;
  readonly partitions: number;
  readonly replicas: number;
  readonly ttl: number;
  readonly owner: string;
}

function validate(options: ClusterSpeedOptions): Settings {
  if (typeof options !== 'object' || options === null)
    throw new InvalidOptionError('clusterSpeedLayer(options)', `expected an options object, got ${describe(options)}`);
  for (const k of Object.keys(options))
    if (!(KNOWN as readonly string[]).includes(k))
      throw new InvalidOptionError(`clusterSpeedLayer.${k}`, `unknown option; known ones are ${KNOWN.join(', ')}`);
  const servers = typeof options.servers === 'string' ? [options.servers] : [...(options.servers ?? [])];
  if (servers.length === 0 || !servers.every((u) => typeof u === 'string' && u.length > 0))
    throw new InvalidOptionError('clusterSpeedLayer.servers', `expected a NATS URL or an array of them, got ${describe(options.servers)}`);
  if (typeof options.pipeline !== 'function')
    throw new InvalidOptionError('clusterSpeedLayer.pipeline', `expected the pipeline function, got ${describe(options.pipeline)}`);
  const partitions = options.partitions ?? 1;
  if (!Number.isInteger(partitions) || partitions < 1 || partitions > 1024)
    throw new InvalidOptionError('clusterSpeedLayer.partitions', `expected a whole number from 1 to 1024, got ${describe(options.partitions)}`);
  if (partitions > 1 && typeof options.merge !== 'function')
    throw new InvalidOptionError(
      'clusterSpeedLayer.merge',
      `${partitions} partitions compute parts of one window each, and combining them needs the aggregate's merge: ` +
        'export const merge = (a, b) => a + b (for count or sum) from the pipeline module, or run one partition',
    );
  const replicas = options.replicas ?? 1;
  if (![1, 3, 5].includes(replicas))
    throw new InvalidOptionError('clusterSpeedLayer.replicas', `expected 1, 3 or 5 (JetStream's replica counts), got ${describe(options.replicas)}`);
  const ttl = options.leaseTtlMs ?? DEFAULT_TTL;
  if (!Number.isFinite(ttl) || ttl < 300 || ttl > 600_000)
    throw new InvalidOptionError('clusterSpeedLayer.leaseTtlMs', `expected from 300 to 600 000 ms, got ${describe(options.leaseTtlMs)}`);
  const owner = options.owner ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  if (typeof owner !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(owner))
    throw new InvalidOptionError('clusterSpeedLayer.owner', `expected 1-64 letters, digits, _ or -, got ${describe(options.owner)}`);
  return {
    servers,
    stream: options.stream ?? 'TIDEMARK',
    prefix: options.subjectPrefix ?? 'tidemark',
    partitions,
    replicas,
    ttl,
    owner: owner.replace(/[^A-Za-z0-9_-]/g, '_'),
  };
}

/** A lease's value. */
interface Lease {
  readonly owner: string;
}

/** A partition checkpoint's head (`cp.<p>`): the owner's term, and the checkpoint inline or in chunks. */
interface CheckpointHead {
  readonly epoch: number;
  readonly owner: string;
  /** The checkpoint's JSON, when it fits in the head. */
  readonly inline?: string;
  /** Otherwise its chunks: `cpd.<p>.<id>.<i>` for i < chunks. */
  readonly id?: string;
  readonly chunks?: number;
}

/** `held`: per client, the sequence numbers the checkpoint covers (`jetstream-format`'s coverage header), to skip events stored twice. */
type PartitionCheckpoint = TailCheckpoint<number> & { readonly snapshot: PipelineSnapshot; readonly held?: Record<string, string> };

/** Raised inside a partition when another owner fenced it out. */
class FencedError extends Error {
  override readonly name = 'FencedError';
}

async function startCluster(nats: ClusterNats, s: Settings, options: ClusterSpeedOptions): Promise<ClusterSpeedLayer> {
  const clock = options.clock ?? systemClock;
  const maxWindows = options.maxWindows ?? DEFAULT_MAX_WINDOWS;
  const onError = (e: unknown) => options.onError?.(e);
  const view = new ServingView([], 0, maxWindows);
  const hub = new ViewHub(view, [], { clock });
  const merge = new PartitionMerge(options.merge as ((a: unknown, b: unknown) => unknown) | undefined, maxWindows);
  const logFilter = `${s.prefix}.events.*`;
  const viewFilter = `${s.prefix}.view.>`;
  const speedSubject = (p: number) => `${s.prefix}.view.speed.${p}`;
  const batchSubject = `${s.prefix}.view.batch`;
  let folded = 0;
  const workers = new Map<number, PartitionWorker>();
  /** Each partition's newest term (lease revision) seen in the view stream. */
  const terms = new Map<number, number>();
  const foldWaiters: { seq: number; resolve: () => void }[] = [];
  const batchChunks = new Map<string, { windows: WindowValue[][]; got: number }>();
  const batchParts = new Map<number, BatchPart>();
  let wholeBatch: BatchPart | undefined;
  const mergeValues = options.merge as ((a: unknown, b: unknown) => unknown) | undefined;
  /** The batch view: a whole one, or the partitions' parts merged; final only where every partition has run. */
  const combineBatch = (): { windows: readonly WindowValue[]; frontier: number } => {
    if (wholeBatch) return wholeBatch;
    const windows = new Map<string, WindowValue>();
    for (const part of batchParts.values())
      for (const w of part.windows) {
        const id = windowId(w);
        const had = windows.get(id);
        windows.set(id, had && mergeValues ? { ...w, value: mergeValues(had.value, w.value) } : w);
      }
    const ran = [...batchParts.values()].filter((p) => !p.empty);
    const frontier =
      batchParts.size < s.partitions || ran.length === 0 ? Number.NEGATIVE_INFINITY : Math.min(...ran.map((p) => p.frontier));
    return { windows: [...windows.values()], frontier };
  };

  // ---- The view: every process folds the view stream alike.
  const fold = (m: FollowedMessage) => {
    view.lastId = Math.max(view.lastId, m.seq * IDS_PER_MESSAGE);
    let changes: ViewChange[] = [];
    try {
      const doc = JSON.parse(new TextDecoder().decode(m.data)) as Record<string, unknown>;
      if (m.subject === batchSubject || m.subject.startsWith(`${batchSubject}.`)) {
        const { id, i, n, frontier, empty, windows } = doc as {
          id: string;
          i: number;
          n: number;
          frontier: number | null;
          empty?: boolean;
          windows: WindowValue[];
        };
        let b = batchChunks.get(id);
        if (!b) batchChunks.set(id, (b = { windows: [], got: 0 }));
        b.windows[i] = windows;
        b.got++;
        if (b.got === n) {
          batchChunks.delete(id);
          const part: BatchPart = { frontier: frontier ?? Number.NEGATIVE_INFINITY, empty: empty === true, windows: b.windows.flat() };
          // A whole batch view (setBatchView) replaces the partitions' parts; a part replaces its partition's.
          if (m.subject === batchSubject) {
            batchParts.clear();
            wholeBatch = part;
          } else {
            wholeBatch = undefined;
            batchParts.set(Number(m.subject.slice(batchSubject.length + 1)), part);
          }
          const combined = combineBatch();
          changes = view.setBatch(combined.windows, combined.frontier);
        }
      } else {
        // Fencing on read: a partition's panes count only under its newest term, the same in every process's fold.
        const p = Number(m.subject.slice(m.subject.lastIndexOf('.') + 1));
        const epoch = Number(doc['fence'] ?? doc['epoch'] ?? 0);
        const worker = workers.get(p);
        if (epoch < (terms.get(p) ?? 0)) {
          // An old owner's pane after a newer fence: not served; that owner, if it is this process, stops.
          if (worker?.epoch === epoch) void worker.lose('another owner fenced its panes subject (fenced out)');
        } else {
          terms.set(p, epoch);
          // A newer owner's fence (its panes follow it): this process's older term for the partition is over.
          if (worker && worker.epoch < epoch) void worker.lose('another owner fenced its panes subject (fenced out)');
          if (Array.isArray(doc['results'])) changes = view.speedResults(merge.apply(p, doc['results'] as unknown[]));
        }
      }
    } catch (e) {
      onError(new StorageError(`cannot fold message ${m.seq} of ${nats.viewStream} into the view: ${(e as Error).message}`, { cause: e }));
    }
    folded = m.seq;
    if (changes.length > 0) hub.publish(changes);
    for (let i = foldWaiters.length - 1; i >= 0; i--)
      if (foldWaiters[i]!.seq <= folded) foldWaiters.splice(i, 1)[0]!.resolve();
  };
  const foldedThrough = (seq: number) =>
    seq <= folded ? Promise.resolve() : new Promise<void>((resolve) => foldWaiters.push({ seq, resolve }));
  const startSeq = await nats.lastOf(nats.viewStream, viewFilter);
  const stopFold = nats.follow(nats.viewStream, viewFilter, 1, fold, onError);
  await foldedThrough(startSeq);

  // ---- Partitions.
  const pipeline = options.pipeline as BatchPipeline;
  let takeovers = 0;
  const lastRenew = new Map<number, number>();

  class PartitionWorker {
    private runner: Runner | undefined;
    private stopFollow: (() => void) | undefined;
    private cpRevision = 0;
    private queue: unknown[] = [];
    private publishing: Promise<void> | undefined;
    private stopped = false;
    private retry: (() => void) | undefined;
    seen = 0;
    /**
     * Each client's sequence numbers read so far, to skip events stored twice
     * (two processes racing on one client's subject: see `jetstream-log.ts`'s
     * `settle`); and the same as of the last checkpoint, with the reads since.
     */
    private readonly held = new Map<string, Coverage>();
    private readonly heldSaved = new Map<string, Coverage>();
    private unsaved: { seq: number; clientId: string; seqs: number[] }[] = [];
    private readonly seenWaiters: { seq: number; resolve: () => void }[] = [];

    constructor(
      readonly partition: number,
      readonly epoch: number,
    ) {}

    async start(): Promise<void> {
      const p = this.partition;
      // 1. Fence the checkpoint: rewrite its head under this term, the revision read expected.
      let checkpoint: PartitionCheckpoint | undefined;
      for (let attempt = 0; ; attempt++) {
        const head = await nats.get<CheckpointHead>(`cp.${p}`);
        checkpoint = head ? await readCheckpoint(p, head.value) : undefined;
        const next: CheckpointHead = { ...(head?.value ?? {}), epoch: this.epoch, owner: s.owner };
        const rev = head ? await nats.update(`cp.${p}`, next, head.revision) : await nats.create(`cp.${p}`, next);
        if (rev !== 'conflict') {
          this.cpRevision = rev;
          break;
        }
        if (attempt === 5) throw new FencedError(`partition ${p}: its checkpoint kept changing under another owner`);
      }
      // 2. Fence the panes subject: every process's fold ignores panes of an older term published after this.
      await nats.publish(speedSubject(p), encode({ fence: this.epoch, owner: s.owner }));
      if (this.stopped) return;
      // 3. Restore and replay the log after the checkpoint, then follow it.
      const store = new TailStore<number>({
        load: async () => checkpoint,
        save: (c) => this.save(c as PartitionCheckpoint),
      });
      const runner = (this.runner = new Runner({
        store,
        pipeline: createPipeline(pipeline) as Pipeline<unknown, unknown>,
        clock,
        view: false,
        perSource: { idleTimeout: options.idleTimeout ?? 60_000 },
        checkpoint: { everyEvents: 100_000, everyMs: 5_000, ...options.checkpoint },
        hooks: {
          results: (fired) => this.enqueue(fired),
          error: (e) => (e instanceof FencedError ? void this.lose(e.message) : onError(e)),
        },
      }));
      await runner.start();
      // Stopped while starting (the lease lost meanwhile): follow nothing.
      if (this.stopped) return void (await runner.stop(false));
      this.seen = checkpoint?.position ?? 0;
      for (const [clientId, header] of Object.entries(checkpoint?.held ?? {})) {
        const coverage = decodeCoverage(header);
        if (!(coverage instanceof Coverage)) throw new StorageError(`partition ${p}: its checkpoint holds a bad coverage for ${clientId}: ${header}`);
        this.held.set(clientId, coverage);
        this.heldSaved.set(clientId, Coverage.union(coverage, new Coverage()));
      }
      this.stopFollow = nats.follow(
        logStreamName(s),
        logFilter,
        this.seen + 1,
        async (m) => {
          if (this.stopped) return;
          const clientId = clientOf(s.prefix, m.subject);
          store.seen = m.seq;
          if (clientId !== undefined && partitionOf(clientId, s.partitions) === p) {
            const fresh = freshOnce(this.held, clientId, decodeBody(clientId, m.data, m.seq));
            if (fresh.length > 0) {
              this.unsaved.push({ seq: m.seq, clientId, seqs: fresh.map((e) => e.seq) });
              runner.offer(store.add(fresh.map((e) => e.data), clientId, m.seq));
            }
            if (store.backlog > 0 && (await store.lastSeq()) - runner.processed > READ_AHEAD) await runner.idle();
          }
          this.seen = m.seq;
          for (let i = this.seenWaiters.length - 1; i >= 0; i--)
            if (this.seenWaiters[i]!.seq <= m.seq) this.seenWaiters.splice(i, 1)[0]!.resolve();
        },
        (e) => onError(e),
      );
    }

    /** Resolves once the log up to `seq` is read, processed and its panes published. */
    async caughtUp(seq: number): Promise<void> {
      if (this.seen < seq) await new Promise<void>((resolve) => this.seenWaiters.push({ seq, resolve }));
      await this.runner?.idle();
      await this.flush();
    }

    status(): RunnerStatus | undefined {
      return this.runner?.status();
    }

    private enqueue(fired: readonly unknown[]): void {
      if (this.stopped || fired.length === 0) return;
      for (const r of fired) this.queue.push(r);
      if (!this.publishing) this.publishing = this.drain().finally(() => (this.publishing = undefined));
    }

    private async flush(): Promise<void> {
      while (this.publishing) await this.publishing;
    }

    private async drain(): Promise<void> {
      while (this.queue.length > 0 && !this.stopped) {
        let n = Math.min(this.queue.length, 2_000);
        let body = encode({ epoch: this.epoch, results: this.queue.slice(0, n) });
        while (body.length > nats.maxBody && n > 1) {
          n = Math.ceil(n / 2);
          body = encode({ epoch: this.epoch, results: this.queue.slice(0, n) });
        }
        try {
          await nats.publish(speedSubject(this.partition), body);
        } catch (e) {
          // NATS unreachable, or electing a leader: keep the panes and try again shortly.
          onError(e);
          if (!this.retry) this.retry = clock.timeout(() => {
            this.retry = undefined;
            if (!this.publishing && !this.stopped) this.publishing = this.drain().finally(() => (this.publishing = undefined));
          }, 250);
          return;
        }
        this.queue.splice(0, n);
      }
    }

    private async save(c: PartitionCheckpoint): Promise<void> {
      // Panes first: a checkpoint past results not yet published would lose them on a takeover.
      await this.flush();
      if (this.queue.length > 0) {
        this.publishing = this.drain().finally(() => (this.publishing = undefined));
        await this.flush();
        if (this.queue.length > 0) throw new StorageError(`partition ${this.partition}: panes not published; checkpoint postponed`);
      }
      if (this.stopped) throw new FencedError(`partition ${this.partition} is no longer run here`);
      const p = this.partition;
      // What the checkpoint covers: the reads up to its position.
      let covered = 0;
      while (covered < this.unsaved.length && this.unsaved[covered]!.seq <= (c.position ?? 0)) {
        const { clientId, seqs } = this.unsaved[covered++]!;
        freshOnce(this.heldSaved, clientId, seqs.map((seq) => ({ seq })));
      }
      this.unsaved = this.unsaved.slice(covered);
      const held: Record<string, string> = {};
      for (const [clientId, coverage] of this.heldSaved) held[clientId] = encodeCoverage(coverage);
      const json = JSON.stringify({ ...c, held });
      let head: CheckpointHead;
      if (json.length <= nats.maxBody - 512) head = { epoch: this.epoch, owner: s.owner, inline: json };
      else {
        const id = `${this.epoch}-${c.seq}`;
        const size = nats.maxBody - 512;
        const chunks = Math.ceil(json.length / size);
        for (let i = 0; i < chunks; i++) await nats.put(`cpd.${p}.${id}.${i}`, json.slice(i * size, (i + 1) * size));
        head = { epoch: this.epoch, owner: s.owner, id, chunks };
      }
      const before = await nats.get<CheckpointHead>(`cp.${p}`);
      const rev = await nats.update(`cp.${p}`, head, this.cpRevision);
      if (rev === 'conflict') throw new FencedError(`partition ${p}: another owner wrote its checkpoint (fenced out)`);
      this.cpRevision = rev;
      // The previous checkpoint's chunks are no longer needed.
      const old = before?.value;
      if (old?.id !== undefined && old.id !== head.id)
        for (let i = 0; i < (old.chunks ?? 0); i++) await nats.remove(`cpd.${p}.${old.id}.${i}`).catch(() => undefined);
    }

    /** Stops running the partition; with `final`, after a last checkpoint and its panes. */
    async stop(final: boolean): Promise<void> {
      this.stopFollow?.();
      this.retry?.();
      if (final && !this.stopped) {
        await this.runner?.stop(true);
        await this.flush();
      } else await this.runner?.stop(false);
      this.stopped = true;
      for (const w of this.seenWaiters.splice(0)) w.resolve();
    }

    async lose(reason: string): Promise<void> {
      if (this.stopped) return;
      this.stopped = true;
      await this.stop(false);
      if (workers.get(this.partition) === this) {
        workers.delete(this.partition);
        options.onOwnership?.({ kind: 'lost', partition: this.partition, owned: owned(), reason });
      }
    }
  }

  async function readCheckpoint(p: number, head: CheckpointHead): Promise<PartitionCheckpoint | undefined> {
    if (head.inline !== undefined) return JSON.parse(head.inline) as PartitionCheckpoint;
    if (head.id === undefined) return undefined;
    let json = '';
    for (let i = 0; i < (head.chunks ?? 0); i++) {
      const chunk = await nats.get<string>(`cpd.${p}.${head.id}.${i}`);
      if (!chunk) throw new StorageError(`partition ${p}: chunk ${i} of checkpoint ${head.id} is missing from ${nats.bucket}`);
      json += chunk.value;
    }
    return JSON.parse(json) as PartitionCheckpoint;
  }

  const owned = () => [...workers.keys()].sort((a, b) => a - b);

  /** Publishes a batch view in chunks that fit a message; answers the last one's sequence. */
  async function publishBatch(subject: string, all: readonly WindowValue[], frontier: number, empty: boolean, startedAt: number): Promise<number> {
    const id = `${s.owner}-${startedAt}-${Math.random().toString(36).slice(2, 8)}`;
    const per = Math.max(1, Math.floor(all.length / Math.max(1, Math.ceil(encode(all).length / (nats.maxBody / 2)))));
    const n = Math.max(1, Math.ceil(all.length / per));
    const f = Number.isFinite(frontier) ? frontier : null;
    let last = 0;
    for (let i = 0; i < n; i++) last = await nats.publish(subject, encode({ id, i, n, frontier: f, empty, startedAt, windows: all.slice(i * per, (i + 1) * per) }));
    return last;
  }

  // ---- Leases: members, shares, renewals, takeovers.
  const observed = new Map<string, { revision: number; since: number }>();
  /** Whether `key`'s revision has stood still for a whole TTL, as this process saw it. */
  const stale = (key: string, revision: number): number | undefined => {
    const now = clock.now();
    const o = observed.get(key);
    if (!o || o.revision !== revision) {
      observed.set(key, { revision, since: now });
      return undefined;
    }
    return now - o.since >= s.ttl ? now - o.since : undefined;
  };
  const leaseRevision = new Map<number, number>();
  let memberRevision = 0;
  let closed = false;

  const acquire = async (p: number, revision: number, staleMs?: number) => {
    leaseRevision.set(p, revision);
    lastRenew.set(p, clock.now());
    const worker = new PartitionWorker(p, revision);
    workers.set(p, worker);
    if (staleMs !== undefined) takeovers++;
    try {
      await worker.start();
      options.onOwnership?.({
        kind: staleMs === undefined ? 'acquired' : 'took-over',
        partition: p,
        owned: owned(),
        ...(staleMs !== undefined ? { staleMs } : {}),
      });
    } catch (e) {
      workers.delete(p);
      leaseRevision.delete(p);
      await worker.stop(false);
      if (!(e instanceof FencedError)) onError(e);
      options.onOwnership?.({ kind: 'lost', partition: p, owned: owned(), reason: (e as Error).message });
    }
  };

  /** Partitions being started (a tick does not wait for them; the first one at start does). */
  let starting: Promise<void>[] = [];
  const tick = async () => {
    // A failed announcement does not stop the renewals below (a cluster electing a leader fails some requests).
    memberRevision = await nats.put(`member.${s.owner}`, { owner: s.owner }).catch((e: unknown) => {
      onError(e);
      return memberRevision;
    });
    const members = new Set([s.owner]);
    for (const key of await memberKeys()) {
      const e = await nats.get<{ owner: string }>(key);
      if (!e) continue;
      if (e.value.owner === s.owner) continue;
      if (stale(key, e.revision) === undefined) members.add(e.value.owner);
      else if (stale(key, e.revision)! > s.ttl * 6) await nats.remove(key, e.revision);
    }
    const share = Math.ceil(s.partitions / members.size);
    for (let p = 0; p < s.partitions; p++) {
      const key = `lease.${p}`;
      const e = await nats.get<Lease>(key);
      const mine = leaseRevision.get(p);
      if (mine !== undefined) {
        const w = workers.get(p);
        if (!e || e.revision !== mine || e.value.owner !== s.owner || !w) {
          leaseRevision.delete(p);
          if (w) {
            workers.delete(p);
            await w.stop(false);
            options.onOwnership?.({ kind: 'lost', partition: p, owned: owned(), reason: 'its lease was taken' });
          }
          continue;
        }
        const rev = await nats.update(key, { owner: s.owner }, mine);
        if (rev === 'conflict') continue; // seen as lost on the next tick
        leaseRevision.set(p, rev);
        lastRenew.set(p, clock.now());
        continue;
      }
      // Observed on every tick, so that the TTL runs from the last renewal seen, not from when this process has room.
      const staleMs = e ? stale(key, e.revision) : undefined;
      if (workers.size >= share) continue;
      if (!e) {
        const rev = await nats.create(key, { owner: s.owner });
        if (rev !== 'conflict') starting.push(acquire(p, rev));
        continue;
      }
      if (staleMs !== undefined) {
        const rev = await nats.update(key, { owner: s.owner }, e.revision);
        if (rev !== 'conflict') starting.push(acquire(p, rev, staleMs));
      }
    }
    // More than a fair share: hand the highest partition back (after its last checkpoint).
    if (workers.size > share) {
      const p = Math.max(...workers.keys());
      const w = workers.get(p)!;
      workers.delete(p);
      await w.stop(true);
      const rev = leaseRevision.get(p);
      leaseRevision.delete(p);
      await nats.remove(`lease.${p}`, rev);
      options.onOwnership?.({ kind: 'released', partition: p, owned: owned() });
    }
    // Not renewed for a whole TTL (NATS unreachable): another process may own it by now; stop.
    for (const [p, at] of lastRenew)
      if (workers.has(p) && clock.now() - at >= s.ttl) {
        const w = workers.get(p)!;
        workers.delete(p);
        leaseRevision.delete(p);
        await w.stop(false);
        options.onOwnership?.({ kind: 'lost', partition: p, owned: owned(), reason: 'its lease could not be renewed in time' });
      }
  };
  const memberKeys = async () => {
    // Members are few: read the bucket's member keys through the KV's key listing.
    return (await listKeys(nats, 'member.*')) as string[];
  };

  let ticking: Promise<void> | undefined;
  let cancelTick: (() => void) | undefined;
  const schedule = () => {
    if (closed) return;
    cancelTick = clock.timeout(() => {
      starting = [];
      ticking = tick()
        .catch((e) => onError(e))
        .finally(() => {
          ticking = undefined;
          schedule();
        });
    }, Math.max(100, Math.floor(s.ttl / 3)));
  };
  await tick();
  // The partitions this process starts with are running before it serves.
  await Promise.all(starting);
  starting = [];
  schedule();

  const layer: ClusterSpeedLayer = {
    partitions: s.partitions,
    owner: s.owner,
    owned,
    rows: (filter) => ({ rows: view.rows(filter), lastEventId: view.lastId }),
    stream: (after, filter, onClose) => hub.stream(after, filter, onClose),
    refreshBatch: async () => {},
    async setBatchView(batch) {
      await foldedThrough(await publishBatch(batchSubject, batch.windows, batch.frontier, false, batch.startedAt ?? clock.now()));
    },
    async runBatch(inputs, now) {
      const reports: ReconcileReport[] = [];
      for (const p of owned()) {
        const mine = (clientId: string) => partitionOf(clientId, s.partitions) === p;
        const report = await reconcile({
          log: onlyClients(inputs.log, mine),
          results: onlyResults(inputs.results, mine),
          corrections: inputs.corrections,
          pipeline,
          now,
        });
        reports.push(report);
        if (!report.failures.some((f) => f.clientId === undefined))
          await foldedThrough(await publishBatch(`${batchSubject}.${p}`, report.global, report.frontier, report.clients === 0, report.startedAt));
      }
      return addReports(reports, now());
    },
    async idle() {
      const logEnd = await nats.lastOf(logStreamName(s), logFilter);
      await Promise.all([...workers.values()].map((w) => w.caughtUp(logEnd)));
      await foldedThrough(await nats.lastOf(nats.viewStream, viewFilter));
    },
    status() {
      const parts = [...workers.values()].map((w) => w.status()).filter((x): x is RunnerStatus => x !== undefined);
      const base = combineStatus(parts);
      return {
        ...base,
        viewRows: view.size,
        subscribers: hub.size,
        changes: hub.published,
        lastEventId: view.lastId,
        batchFrontier: view.batchFrontier,
        owned: owned(),
        takeovers,
      };
    },
    metrics() {
      const parts = [...workers.values()].map((w) => w.status()).filter((x): x is RunnerStatus => x !== undefined);
      const now = clock.now();
      const lines = [
        '# HELP tidemark_cluster_partition_owned Whether this process runs the partition (1) or not (0).',
        '# TYPE tidemark_cluster_partition_owned gauge',
        ...Array.from({ length: s.partitions }, (_, p) => `tidemark_cluster_partition_owned{partition="${p}"} ${workers.has(p) ? 1 : 0}`),
        '# HELP tidemark_cluster_lease_age_seconds Time since this process last renewed the partition\'s lease.',
        '# TYPE tidemark_cluster_lease_age_seconds gauge',
        ...owned().map((p) => `tidemark_cluster_lease_age_seconds{partition="${p}"} ${((now - (lastRenew.get(p) ?? now)) / 1000).toFixed(3)}`),
        '# HELP tidemark_cluster_partition_processed_events Events of the partition processed, from its first checkpoint on (by whichever process ran it).',
        '# TYPE tidemark_cluster_partition_processed_events gauge',
        ...owned().map((p) => `tidemark_cluster_partition_processed_events{partition="${p}"} ${workers.get(p)?.status()?.processed ?? 0}`),
        '# HELP tidemark_cluster_takeovers_total Partitions this process took over from one that stopped renewing.',
        '# TYPE tidemark_cluster_takeovers_total counter',
        `tidemark_cluster_takeovers_total ${takeovers}`,
        '# HELP tidemark_cluster_member_revision Revision of this process\'s membership entry (it moves with every renewal).',
        '# TYPE tidemark_cluster_member_revision gauge',
        `tidemark_cluster_member_revision ${memberRevision}`,
      ];
      return speedMetrics(combineStatus(parts), view, hub, now) + `${lines.join('\n')}\n`;
    },
    async close() {
      if (closed) return;
      closed = true;
      cancelTick?.();
      await ticking?.catch(() => undefined);
      for (const [p, w] of [...workers]) {
        workers.delete(p);
        await w.stop(true).catch((e) => onError(e));
        await nats.remove(`lease.${p}`, leaseRevision.get(p)).catch(() => undefined);
      }
      await nats.remove(`member.${s.owner}`).catch(() => undefined);
      stopFold();
      hub.close();
      await nats.close();
    },
  };
  return layer;
}

function logStreamName(s: Settings): string {
  return s.stream;
}

function encode(v: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(v));
}

async function listKeys(nats: ClusterNats, filter: string): Promise<string[]> {
  return nats.keys(filter);
}

/** The partitions' statuses as one: the minimum watermark, sums of the rest. */
function combineStatus(parts: readonly RunnerStatus[]): RunnerStatus {
  const sum = (f: (r: RunnerStatus) => number) => parts.reduce((a, r) => a + f(r), 0);
  return {
    watermark: parts.length === 0 ? Number.NEGATIVE_INFINITY : Math.min(...parts.map((r) => r.watermark)),
    openWindows: sum((r) => r.openWindows),
    lateRecords: sum((r) => r.lateRecords),
    allowedLateness: parts[0]?.allowedLateness ?? 0,
    sources: sum((r) => r.sources),
    activeSources: sum((r) => r.activeSources),
    processed: sum((r) => r.processed),
    checkpointed: sum((r) => r.checkpointed),
    lastCheckpoint: null,
    viewWindows: 0,
    failed: parts.some((r) => r.failed),
  };
}

/** A partition's part of the batch view, as folded. */
interface BatchPart {
  readonly frontier: number;
  /** The partition had no client: it does not hold the frontier back. */
  readonly empty: boolean;
  readonly windows: readonly WindowValue[];
}

/** `log` as if it held only the clients `mine` accepts (a batch run reads only theirs). */
function onlyClients(log: EventLog, mine: (clientId: string) => boolean): EventLog {
  return new Proxy(log, {
    get(target, key) {
      if (key === 'clients') return () => target.clients().filter((c) => mine(c.clientId));
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** `results` as if it held only the clients `mine` accepts. */
function onlyResults(results: ResultStore, mine: (clientId: string) => boolean): ResultStore {
  return new Proxy(results, {
    get(target, key) {
      if (key === 'clients') return () => target.clients().filter(mine);
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** The partitions' batch runs as one report (counts added, the earliest frontier among partitions with clients). */
function addReports(reports: readonly ReconcileReport[], end: number): ReconcileReport {
  const sum = (f: (r: ReconcileReport) => number) => reports.reduce((a, r) => a + f(r), 0);
  const startedAt = reports.length === 0 ? end : Math.min(...reports.map((r) => r.startedAt));
  const ran = reports.filter((r) => r.clients > 0);
  const durationMs = end - startedAt;
  return {
    startedAt,
    clients: sum((r) => r.clients),
    events: sum((r) => r.events),
    windows: sum((r) => r.windows),
    uploaded: sum((r) => r.uploaded),
    written: sum((r) => r.written),
    skipped: sum((r) => r.skipped),
    pending: sum((r) => r.pending),
    global: [],
    frozen: sum((r) => r.frozen),
    frontier: ran.length === 0 ? Number.NEGATIVE_INFINITY : Math.min(...ran.map((r) => r.frontier)),
    failures: reports.flatMap((r) => r.failures),
    passes: sum((r) => r.passes),
    durationMs,
    eventsPerSecond: durationMs > 0 ? sum((r) => r.events) / (durationMs / 1000) : 0,
  };
}
