/// <reference types="node" />
/**
 * Where the server keeps each client's latest window results (the speed
 * layer, as uploaded with `IngestRequest.results`), for reconcile to
 * compare with the batch view.
 *
 * @module
 */
import { join } from 'node:path';
import { RuntimeClosedError, StorageError } from '../errors.js';
import type { WireResult } from '../protocol/wire.js';
import { AppendFile, type RecordLog } from './append-file.js';
import { paneWins, WindowMap } from '../windows/identity.js';

/** One window result as the store keeps it: the upload's latest pane, and when it was received. */
export interface StoredResult extends WireResult {
  /** When the upload holding this pane reached the server (`Date.now()` there). */
  readonly receivedAt: number;
}

/**
 * What the latest uploads of a client said of its progress.
 *
 * @example
 * ```ts
 * import { memoryResults } from 'tidemark/server';
 * const results = memoryResults();
 * await results.put('c1', [], 5_000, 120_000);
 * console.log(results.report('c1')); // { watermark: 120000, lastSeen: 5000 }
 * ```
 */
export interface ClientReport {
  /** The client pipeline's highest event-time watermark uploaded (`-Infinity` before one). */
  readonly watermark: number;
  /** When its latest upload reached the server. */
  readonly lastSeen: number;
}

/**
 * The latest uploaded result of every (client, key, start, end): a higher
 * pane replaces a lower one; for an equal pane the later `put` wins; a
 * lower pane is ignored (it arrived late, e.g. a retried upload). A result
 * with `kind: 'delete'` removes its window (unless a higher pane is held).
 *
 * @example
 * ```ts
 * import { memoryResults, type ResultStore } from 'tidemark/server';
 * const results: ResultStore = memoryResults();
 * await results.put('c1', [{ key: '/', start: 0, end: 60_000, value: 3, pane: 1 }], Date.now());
 * await results.put('c1', [{ key: '/', start: 0, end: 60_000, value: 2, pane: 0 }], Date.now());
 * console.log(results.get('c1')[0]?.value); // 3
 * ```
 * @see {@link memoryResults}, {@link fileResults}
 */
export interface ResultStore {
  /** Records one upload of `clientId` (with the client's watermark, when it sent one); resolves once it is durable. */
  put(clientId: string, results: readonly WireResult[], receivedAt: number, watermark?: number): Promise<void>;
  /** The client's reported watermark and when it was last heard of, or `undefined` before any upload. */
  report(clientId: string): ClientReport | undefined;
  /**
   * The latest result of each window of `clientId`, grouped by key: keys,
   * and windows within a key, in the order first uploaded (unsorted: reconcile
   * reads every client's results, and sorting them all would cost more than
   * comparing them).
   */
  get(clientId: string): readonly StoredResult[];
  /** Every client with at least one result, in the order they first uploaded. */
  clients(): readonly string[];
  /**
   * Compaction: forgets the results of windows starting at or before
   * `frozenThrough` (retention froze them: no batch run compares them
   * again) and, for a file store, rewrites the file with each window's
   * latest result and each client's report only. Retention calls it.
   */
  compact?(frozenThrough: number): Promise<void>;
  /** Flushes and releases the store; later calls reject or throw. */
  close(): Promise<void>;
}

/** The in-memory index both stores share. */
export class LatestResults {
  private readonly byClient = new Map<string, WindowMap<StoredResult>>();
  private readonly reports = new Map<string, ClientReport>();

  put(clientId: string, results: readonly WireResult[], receivedAt: number, watermark: number | undefined): void {
    let windows = this.byClient.get(clientId);
    if (!windows) this.byClient.set(clientId, (windows = new WindowMap()));
    for (const r of results) {
      if (r.kind === 'delete') {
        // A changelog's delete (a superseded session span): the window is gone, unless a newer pane is held.
        const seen = windows.get(r.key, r.start, r.end);
        if (seen !== undefined && paneWins(r, seen)) windows.delete(r.key, r.start, r.end);
        continue;
      }
      windows.offer({ key: r.key, start: r.start, end: r.end, value: r.value, pane: r.pane, receivedAt });
    }
    const seen = this.reports.get(clientId);
    // Watermarks never go back (an upload retried late carries an older one).
    this.reports.set(clientId, {
      watermark: Math.max(seen?.watermark ?? Number.NEGATIVE_INFINITY, watermark ?? Number.NEGATIVE_INFINITY),
      lastSeen: Math.max(seen?.lastSeen ?? Number.NEGATIVE_INFINITY, receivedAt),
    });
  }

  report(clientId: string): ClientReport | undefined {
    return this.reports.get(clientId);
  }

  get(clientId: string): readonly StoredResult[] {
    return this.byClient.get(clientId)?.values() ?? [];
  }

  clients(): readonly string[] {
    return [...this.byClient.keys()];
  }

  /** Drops the windows starting at or before `frozenThrough`; answers the lines that hold the rest. */
  compact(frozenThrough: number): ResultsLine[] {
    const lines: ResultsLine[] = [];
    for (const [clientId, windows] of this.byClient) {
      const kept = new WindowMap<StoredResult>();
      const byTime = new Map<number, WireResult[]>();
      for (const r of windows.values()) {
        if (r.start <= frozenThrough) continue;
        kept.set(r);
        let at = byTime.get(r.receivedAt);
        if (!at) byTime.set(r.receivedAt, (at = []));
        at.push({ key: r.key, start: r.start, end: r.end, value: r.value, pane: r.pane });
      }
      this.byClient.set(clientId, kept);
      for (const [receivedAt, results] of [...byTime].sort((a, b) => a[0] - b[0])) lines.push({ clientId, receivedAt, results });
      const report = this.reports.get(clientId);
      if (report)
        lines.push({
          clientId,
          receivedAt: report.lastSeen,
          results: [],
          ...(Number.isFinite(report.watermark) ? { watermark: report.watermark } : {}),
        });
    }
    return lines;
  }
}

/**
 * A {@link ResultStore} in memory, for tests and for a server without a
 * disk. Nothing survives the process.
 *
 * @example
 * ```ts
 * import { memoryResults } from 'tidemark/server';
 * const results = memoryResults();
 * await results.put('c1', [{ key: 'a', start: 0, end: 10, value: 1, pane: 0 }], 1_000);
 * console.log(results.clients(), results.get('c1').length); // ['c1'] 1
 * ```
 */
export function memoryResults(): ResultStore {
  return resultStore(new LatestResults(), undefined, 'the result store is closed');
}

/** A store over `index`, writing each `put` to `file` first when there is one. */
export function resultStore(index: LatestResults, file: RecordLog | undefined, closedMessage: string): ResultStore {
  let closed = false;
  const open = () => {
    if (closed) throw new RuntimeClosedError(closedMessage);
  };
  return {
    async put(clientId, results, receivedAt, watermark) {
      open();
      // Applied in append order: appends resolve in the order they were made.
      if (file) await file.append({ clientId, receivedAt, results, ...(watermark === undefined ? {} : { watermark }) } satisfies ResultsLine);
      index.put(clientId, results, receivedAt, watermark);
    },
    report(clientId) {
      open();
      return index.report(clientId);
    },
    get(clientId) {
      open();
      return index.get(clientId);
    },
    clients() {
      open();
      return index.clients();
    },
    async compact(frozenThrough) {
      open();
      const lines = index.compact(frozenThrough);
      await file?.rewrite(lines);
    },
    async close() {
      closed = true;
      await file?.close();
    },
  };
}

const RESULTS_HEADER = { tidemark: 'results', version: 1 } as const;

/** One line of `results.ndjson`: one `put`. */
interface ResultsLine {
  readonly clientId: string;
  readonly receivedAt: number;
  readonly results: readonly WireResult[];
  /** The client's watermark, when the upload carried one. */
  readonly watermark?: number;
}

/**
 * A durable {@link ResultStore} in `dir/results.ndjson`: an append-only
 * JSON-lines file, one line per `put`
 * (`{"clientId":…,"receivedAt":…,"results":[WireResult…],"watermark":…}`) after a header
 * line `{"tidemark":"results","version":1}`. Opening replays it into
 * memory; a torn last line (a crash mid-write) is ignored and cut off.
 * Uploads arriving together share one write and one `fdatasync`; `put`
 * resolves after it. The file keeps every upload (it is not compacted), so
 * it grows with the uploads. One process writes it (the server); with
 * `{ readOnly: true }` another reads a snapshot beside it (`tidemark
 * reconcile` does), creating and cutting nothing, and `put` rejects.
 *
 * @param dir - the data directory (created if missing, unless `readOnly`)
 * @param options - `readOnly`: read beside the process that writes it (nothing created or cut; `put` rejects)
 * @throws {@link StorageError} when the file cannot be read, is of another kind, or is corrupt before its last line
 * @example
 * ```ts
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * import { fileResults } from 'tidemark/server';
 * const dir = mkdtempSync(join(tmpdir(), 'tidemark-'));
 * const results = await fileResults(dir);
 * await results.put('c1', [{ key: '/', start: 0, end: 60_000, value: 7, pane: 0 }], Date.now());
 * await results.close();
 * console.log((await fileResults(dir)).get('c1')[0]?.value); // 7
 * ```
 */
export async function fileResults(dir: string, options: { readonly readOnly?: boolean } = {}): Promise<ResultStore> {
  const index = new LatestResults();
  const path = join(dir, 'results.ndjson');
  const file = await AppendFile.open(path, RESULTS_HEADER, (value) => {
    const line = value as Partial<ResultsLine> | null;
    if (typeof line?.clientId !== 'string' || typeof line.receivedAt !== 'number' || !Array.isArray(line.results))
      throw new StorageError(`${path} holds a line that is not an upload: ${JSON.stringify(value).slice(0, 80)}`);
    index.put(line.clientId, line.results, line.receivedAt, typeof line.watermark === 'number' ? line.watermark : undefined);
  }, { readOnly: options.readOnly === true });
  return resultStore(index, file, `the result store in ${dir} is closed`);
}
