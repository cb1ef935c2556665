/// <reference types="node" />
/**
 * The retention horizon of a data directory: after a batch run, delete the
 * log segments older than the horizon whose events feed only windows the
 * batch layer made final, once their batch values are saved in the
 * persisted batch view (`<data>/batch/view.ndjson`). Windows whose events
 * may be gone are frozen from then on (`<data>/batch/retention.json`):
 * batch runs leave them alone.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { errorParts, StorageError } from '../errors.js';
import { compareWindows, type WindowValue } from '../windows/identity.js';
import { writeAtomically } from './durable-files.js';
import type { FileLog, RetireReport } from './file-log.js';
import type { ReconcileReport } from './reconcile.js';

/** A window of the persisted batch view: of one client, or (`clientId: null`) of the run over all clients. */
export interface FrozenWindow extends WindowValue {
  readonly clientId: string | null;
}

const STATE_FILE = 'retention.json';
const VIEW_FILE = 'view.ndjson';

/** How far windows are frozen in the data directory `dataDir` (`-Infinity`: none). */
export async function frozenThrough(dataDir: string): Promise<number> {
  const path = join(dataDir, 'batch', STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return Number.NEGATIVE_INFINITY;
    throw new StorageError(`cannot read ${path}: ${errorParts(e).message}`, { cause: e });
  }
  const value = (() => {
    try {
      return (JSON.parse(text) as { frozenThrough?: unknown }).frozenThrough;
    } catch {
      return undefined;
    }
  })();
  if (typeof value !== 'number') throw new StorageError(`${path} is not a retention state ({"frozenThrough": <ms>}); restore it from a backup`);
  return value;
}

/**
 * The persisted batch view of `dataDir`: the final batch values of the
 * windows whose events retention may have deleted, of each client and of
 * all clients together (`clientId: null`), sorted by client, then window.
 * Empty until retention first deletes a segment.
 *
 * @param dataDir - the data directory (`tidemark serve --data`)
 * @param clientId - one client's windows only, or `null` for the windows over all clients
 * @example
 * ```ts
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * import { batchView } from 'tidemark/server';
 * const windows = await batchView(mkdtempSync(join(tmpdir(), 'tidemark-')));
 * console.log(windows.length); // 0: nothing was retired there
 * ```
 */
export async function batchView(dataDir: string, clientId?: string | null): Promise<FrozenWindow[]> {
  const path = join(dataDir, 'batch', VIEW_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new StorageError(`cannot read ${path}: ${errorParts(e).message}`, { cause: e });
  }
  const out: FrozenWindow[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const w = JSON.parse(line) as FrozenWindow;
    if (clientId === undefined || w.clientId === clientId) out.push(w);
  }
  return out;
}

/** Collects, during a batch run, the windows retention may persist. */
export class RunWindows {
  private readonly byClient = new Map<string | null, WindowValue[]>();

  /** The `onWindows` option of `reconcile`. */
  readonly onWindows = (clientId: string | undefined, windows: Iterable<WindowValue>): void => {
    const list: WindowValue[] = [];
    for (const { key, start, end, value } of windows) list.push({ key, start, end, value });
    this.byClient.set(clientId ?? null, list);
  };

  /** The windows starting in `(after, through]`, by client. */
  between(after: number, through: number): FrozenWindow[] {
    const out: FrozenWindow[] = [];
    for (const [clientId, list] of this.byClient) for (const w of list) if (w.start > after && w.start <= through) out.push({ clientId, ...w });
    return out;
  }
}

/** What one retention step did. */
export interface RetentionReport extends RetireReport {
  /** Windows frozen through this time after the step. */
  readonly frozenThrough: number;
  /** Windows added to the persisted batch view. */
  readonly persisted: number;
}

/**
 * One retention step, after a batch run that reported `report` and saw the
 * windows of `windows`, under the batch lock: deletes the sealed segments
 * (oldest first) whose every event arrived before `now - horizonMs` and has
 * a time before the run's frontier (every window it feeds is final for its
 * client); before deleting, persists the batch values of the windows those
 * events may feed (start at or before the latest such time) and freezes
 * them. A run with failures retires nothing. An event without a time
 * (`ts: null`) keeps its segment.
 */
export async function retain(options: {
  readonly dataDir: string;
  readonly log: FileLog;
  readonly report: ReconcileReport;
  readonly windows: RunWindows;
  readonly horizonMs: number;
  readonly now: number;
}): Promise<RetentionReport> {
  const { dataDir, log, report, windows } = options;
  const before = await frozenThrough(dataDir);
  const none = { segments: 0, events: 0, bytes: 0, frozenThrough: before, persisted: 0 };
  if (report.failures.length > 0 || !(report.frontier > before)) return none;
  const cutoff = options.now - options.horizonMs;
  let latest = Number.NEGATIVE_INFINITY;
  let persisted = 0;
  let through = before;
  const retired = await log.retire(
    (e) => {
      const ok = e.receivedAt < cutoff && e.ts !== null && e.ts < report.frontier;
      if (ok) latest = Math.max(latest, e.ts!);
      return ok;
    },
    async () => {
      // The windows the deleted events may feed start at or before the latest of their times.
      through = Math.max(before, latest);
      const added = windows.between(before, through);
      persisted = added.length;
      const kept = await batchView(dataDir);
      await writeAtomically(
        join(dataDir, 'batch', VIEW_FILE),
        [...kept, ...added]
          .sort((a, b) => (a.clientId ?? '').localeCompare(b.clientId ?? '') || compareWindows(a, b))
          .map((w) => `${JSON.stringify(w)}\n`)
          .join(''),
      );
      await writeAtomically(join(dataDir, 'batch', STATE_FILE), JSON.stringify({ frozenThrough: through }));
    },
  );
  return { ...retired, frozenThrough: retired.segments > 0 ? through : before, persisted: retired.segments > 0 ? persisted : 0 };
}
