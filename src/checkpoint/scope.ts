/**
 * The checkpoint scope (internal): how stateful operators inside a pipeline
 * are found without the user wiring anything.
 *
 * Subscribing a pipeline is synchronous: every operator's subscribe function
 * runs inside the outer `subscribe()` call. {@link createPipeline} sets the
 * active scope around that call; each stateful operator registers a handle
 * with it as it subscribes (receiving its restored state, if any) and the
 * scope can later snapshot them all at once. Operators subscribed outside a
 * scope, e.g. inside a `mergeMap` after start-up, are not checkpointed.
 *
 * @internal
 * @module
 */
import { SnapshotError } from '../errors.js';
import type { Clock } from '../time/clock.js';
import type { OperatorSnapshot, OperatorStats, PipelineSnapshot } from './snapshot.js';

/** What a stateful operator gives its scope. @internal */
export interface StateHandle {
  /** Plain data describing the operator's state right now; must not alias live state. */
  snapshot(): unknown;
  /** Replaces the operator's state with `state`; throws {@link SnapshotError} on malformed data. */
  restore(state: unknown): void;
  /** Cheap counters for monitoring (watermark, open windows, late records…). */
  stats(): Readonly<Record<string, number>>;
}

let active: CheckpointScope | undefined;

/**
 * How a run's input behaves: `'stream'`, unbounded, in arrival order;
 * `'batch'`, bounded and complete (the batch layer re-running a log), so
 * watermarks are held until the end. @internal
 */
export type RunMode = 'stream' | 'batch';

/** A host's per-source settings for the `eventTime` that reads the pipeline's input (see `RunOptions.perSource`). @internal */
export interface PerSourceSettings {
  readonly idleTimeout?: number;
  readonly clock?: Clock;
}

/** @internal */
export class CheckpointScope {
  private readonly handles = new Map<string, { kind: string; handle: StateHandle }>();
  private readonly perKind = new Map<string, number>();
  private readonly pending: Map<string, OperatorSnapshot>;
  failure: unknown;
  /** The pipeline's input stream, so that an operator can tell it reads the raw events. */
  input: unknown;
  /** The event time of an input event, from the first `eventTime` that reads the input directly. */
  inputTimestamp: ((event: never) => number) | undefined;
  /** The source of the event being pushed (`PipelineInput.push(event, source)`). */
  currentSource: string | undefined;

  constructor(
    restore?: PipelineSnapshot,
    readonly mode: RunMode = 'stream',
    readonly perSource?: PerSourceSettings,
  ) {
    this.pending = new Map(restore ? Object.entries(validateSnapshot(restore).operators) : []);
  }

  register(kind: string, explicitId: string | undefined, handle: StateHandle): void {
    let id = explicitId;
    if (id === undefined) {
      const n = this.perKind.get(kind) ?? 0;
      this.perKind.set(kind, n + 1);
      id = `${kind}#${n}`;
    }
    if (this.handles.has(id))
      throw this.fail(new SnapshotError(`two stateful operators share the id "${id}"; give each a distinct \`id\` option`));
    this.handles.set(id, { kind, handle });
    const saved = this.pending.get(id);
    if (saved === undefined) return;
    this.pending.delete(id);
    if (saved.kind !== kind)
      throw this.fail(
        new SnapshotError(
          `snapshot entry "${id}" was made by ${saved.kind} but this pipeline has ${kind} there; ` +
            'restore snapshots only into the pipeline that made them, or give operators explicit ids',
        ),
      );
    try {
      handle.restore(saved.state);
    } catch (e) {
      throw this.fail(e);
    }
  }

  /** Called once the pipeline is subscribed: every snapshot entry must have found its operator. */
  finish(): void {
    if (this.failure !== undefined) throw this.failure;
    if (this.pending.size > 0)
      throw new SnapshotError(
        `the snapshot holds state for ${[...this.pending.keys()].join(', ')}, which this pipeline does not have; ` +
          'restore snapshots only into the pipeline that made them',
      );
  }

  snapshot(): PipelineSnapshot {
    const operators: Record<string, OperatorSnapshot> = {};
    for (const [id, { kind, handle }] of this.handles) operators[id] = { kind, state: handle.snapshot() };
    return { format: 'tidemark.snapshot', version: 1, operators };
  }

  stats(): Record<string, OperatorStats> {
    const out: Record<string, OperatorStats> = {};
    for (const [id, { kind, handle }] of this.handles) out[id] = { kind, ...handle.stats() };
    return out;
  }

  private fail(e: unknown): unknown {
    this.failure ??= e;
    return e;
  }

  /** Runs `fn` with this scope active, restoring the previous one after. */
  activate<R>(fn: () => R): R {
    const previous = active;
    active = this;
    try {
      return fn();
    } finally {
      active = previous;
    }
  }
}

/** The mode of the run being subscribed (`'stream'` outside a scope). @internal */
export function activeMode(): RunMode {
  return active?.mode ?? 'stream';
}

/**
 * The scope of the run being subscribed, when `source` is its input and the
 * run keeps per-source watermarks (`RunOptions.perSource`). @internal
 */
export function perSourceInput(source: unknown): CheckpointScope | undefined {
  return active && source === active.input && active.perSource ? active : undefined;
}

/** An `eventTime` subscribing to `source` with `timestamp`: if `source` is the pipeline's input, that is the input's event time. @internal */
export function noteEventTime(source: unknown, timestamp: (event: never) => number): void {
  if (active && source === active.input) active.inputTimestamp ??= timestamp;
}

/** Registers a stateful operator with the active scope, if there is one. @internal */
export function registerState(kind: string, id: string | undefined, handle: StateHandle): void {
  active?.register(kind, id, handle);
}

function validateSnapshot(s: PipelineSnapshot): PipelineSnapshot {
  const ok =
    typeof s === 'object' &&
    s !== null &&
    s.format === 'tidemark.snapshot' &&
    typeof s.operators === 'object' &&
    s.operators !== null;
  if (!ok) throw new SnapshotError('restore: not a Tidemark snapshot (expected { format: "tidemark.snapshot", … })');
  if (s.version !== 1)
    throw new SnapshotError(`restore: snapshot version ${String(s.version)} is not supported by this Tidemark (1)`);
  return s;
}
