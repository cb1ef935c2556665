/// <reference types="node" />
/**
 * Where reconcile writes corrections and the server reads them for
 * `GET /v1/corrections`: one feed per store, each correction numbered by a
 * cursor that only grows.
 *
 * @module
 */
import { join } from 'node:path';
import { describe, InvalidOptionError, RuntimeClosedError, StorageError } from '../errors.js';
import type { Correction, CorrectionsResponse } from '../protocol/wire.js';
import { AppendFile, type RecordLog } from './append-file.js';
import { compareWindows, WindowMap } from '../windows/identity.js';

/** A correction to write: for one window of one client, the speed and batch values (`at`: when the run started). */
export interface CorrectionEntry extends Omit<Correction, 'cursor'> {
  readonly clientId: string;
}

/** How many corrections `since` answers when no limit is given, and at most. */
const DEFAULT_LIMIT = 1_000;
const MAX_LIMIT = 10_000;

/**
 * The corrections feed. `write` numbers entries with cursors that strictly
 * increase across the whole store (in write order); `since(clientId, after)`
 * answers that client's corrections with a cursor above `after`, oldest
 * first, and the cursor to ask from next: a client that passes back the
 * last cursor it received never misses or repeats a correction.
 *
 * @example
 * ```ts
 * import { memoryCorrections, type CorrectionStore } from 'tidemark/server';
 * const corrections: CorrectionStore = memoryCorrections();
 * await corrections.write([{ clientId: 'c1', key: '/', start: 0, end: 60_000, speed: 2, batch: 3, at: Date.now() }]);
 * const page = corrections.since('c1', 0);
 * console.log(page.corrections[0]?.batch, page.cursor); // 3 1
 * console.log(corrections.since('c1', page.cursor).corrections.length); // 0
 * ```
 * @see {@link memoryCorrections}, {@link fileCorrections}
 */
export interface CorrectionStore {
  /** Appends the entries (all or nothing), numbered in order; resolves with them once durable. */
  write(entries: readonly CorrectionEntry[]): Promise<readonly Correction[]>;
  /**
   * Corrections of `clientId` with a cursor above `after` (a whole number
   * ≥ 0; 0 for all), oldest first, at most `limit` (default 1 000, at most
   * 10 000). `cursor` is the last one returned, or `after` when none is.
   * An `after` above every cursor this store issued (the store was reset)
   * counts as 0, so that such a client starts over instead of waiting.
   */
  since(clientId: string, after: number, limit?: number): CorrectionsResponse;
  /** The latest correction of each window of `clientId`, sorted by key, then start, then end. */
  latest(clientId: string): readonly Correction[];
  /** The highest cursor written so far (0 for none). */
  cursor(): number;
  /**
   * Reads what other processes wrote since (a {@link fileCorrections} store
   * beside a `tidemark reconcile` run; `createHandler` calls it before
   * answering `GET /v1/corrections`, so their corrections reach clients with
   * no restart). Nothing to read for {@link memoryCorrections}.
   */
  refresh(): Promise<void>;
  /**
   * Compaction: keeps the latest correction of each window only, with its
   * cursor (a client that asks from any cursor still gets every window's
   * latest correction it has not seen), and, for a file store, rewrites the
   * file with them. Run it while no other process writes (retention does,
   * under the batch lock).
   */
  compact?(): Promise<void>;
  /** Flushes and releases the store; later calls reject or throw. */
  close(): Promise<void>;
}

/** The in-memory index both stores share. */
export class Feed {
  private readonly byClient = new Map<string, { all: Correction[]; latest: WindowMap<Correction> }>();
  /** Highest cursor handed out (written or being written). */
  assigned = 0;
  /** Highest cursor durable. */
  written = 0;

  number(entries: readonly CorrectionEntry[]): (Correction & { clientId: string })[] {
    return entries.map((e) => ({
      clientId: e.clientId,
      cursor: ++this.assigned,
      key: e.key,
      start: e.start,
      end: e.end,
      speed: e.speed,
      batch: e.batch,
      at: e.at,
    }));
  }

  add(stored: readonly (Correction & { clientId: string })[]): Correction[] {
    return stored.map(({ clientId, ...c }) => {
      let client = this.byClient.get(clientId);
      if (!client) this.byClient.set(clientId, (client = { all: [], latest: new WindowMap() }));
      client.all.push(c);
      client.latest.set(c);
      this.assigned = Math.max(this.assigned, c.cursor);
      return c;
    });
  }

  since(clientId: string, after: number, limit = DEFAULT_LIMIT): CorrectionsResponse {
    if (!Number.isSafeInteger(after) || after < 0)
      throw new InvalidOptionError('since(after)', `must be a whole number >= 0 (a cursor), got ${describe(after)}`);
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new InvalidOptionError('since(limit)', `must be a whole number >= 1, got ${describe(limit)}`);
    // A cursor this store never issued (it was reset or replaced): start over.
    if (after > this.written) after = 0;
    const all = this.byClient.get(clientId)?.all ?? [];
    // Cursors increase along `all`: binary search for the first one above `after`.
    let lo = 0;
    let hi = all.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (all[mid]!.cursor <= after) lo = mid + 1;
      else hi = mid;
    }
    const corrections = all.slice(lo, lo + Math.min(limit, MAX_LIMIT));
    return { corrections, cursor: corrections.length > 0 ? corrections[corrections.length - 1]!.cursor : after };
  }

  latest(clientId: string): readonly Correction[] {
    const latest = this.byClient.get(clientId)?.latest;
    return latest ? [...latest.values()].sort(compareWindows) : [];
  }

  /** Keeps each window's latest correction; answers them with their clients, in cursor order. */
  compact(): (Correction & { clientId: string })[] {
    const out: (Correction & { clientId: string })[] = [];
    for (const [clientId, client] of this.byClient) {
      client.all = client.latest.values().sort((a, b) => a.cursor - b.cursor);
      for (const c of client.all) out.push({ clientId, ...c });
    }
    return out.sort((a, b) => a.cursor - b.cursor);
  }
}

/**
 * A {@link CorrectionStore} in memory, for tests and for a server without a
 * disk. Nothing survives the process.
 *
 * @example
 * ```ts
 * import { memoryCorrections } from 'tidemark/server';
 * const corrections = memoryCorrections();
 * const [c] = await corrections.write([{ clientId: 'c1', key: 'a', start: 0, end: 10, speed: null, batch: 1, at: 0 }]);
 * console.log(c?.cursor, corrections.latest('c1').length); // 1 1
 * ```
 */
export function memoryCorrections(): CorrectionStore {
  return correctionStore(new Feed(), undefined, 'the correction store is closed');
}

/** A store over `feed`, writing each `write` to `file` first when there is one. */
export function correctionStore(feed: Feed, file: RecordLog | undefined, closedMessage: string): CorrectionStore {
  let closed = false;
  const open = () => {
    if (closed) throw new RuntimeClosedError(closedMessage);
  };
  /** Writes one at a time: each first reads what other writers added, then numbers its entries after theirs. */
  let writing: Promise<unknown> = Promise.resolve();
  return {
    write(entries) {
      if (closed) return Promise.reject(new RuntimeClosedError(closedMessage));
      if (entries.length === 0) return Promise.resolve([]);
      const run = writing.then(async () => {
        let numbered: (Correction & { clientId: string })[];
        for (let attempt = 1; ; attempt++) {
          // Another process (a batch run holding the batch lock before this
          // one) may have appended: number after its cursors, write after its lines.
          await file?.follow({ cut: true });
          numbered = feed.number(entries);
          try {
            if (file) await file.append(numbered);
            break;
          } catch (e) {
            // A cluster's batch runs write at once (one per partition owner): read theirs, number again.
            if (!(e as { conflict?: boolean }).conflict || attempt === 8) throw e;
          }
        }
        const stored = feed.add(numbered);
        feed.written = Math.max(feed.written, numbered[numbered.length - 1]!.cursor);
        return stored;
      });
      writing = run.catch(() => undefined);
      return run;
    },
    async refresh() {
      open();
      await file?.follow();
    },
    compact() {
      if (closed) return Promise.reject(new RuntimeClosedError(closedMessage));
      const run = writing.then(async () => {
        await file?.follow({ cut: true });
        const kept = feed.compact();
        // One line per 10 000 corrections, as writes make them.
        const lines: unknown[] = [];
        for (let i = 0; i < kept.length; i += 10_000) lines.push(kept.slice(i, i + 10_000));
        await file?.rewrite(lines);
      });
      writing = run.catch(() => undefined);
      return run;
    },
    since(clientId, after, limit) {
      open();
      return feed.since(clientId, after, limit);
    },
    latest(clientId) {
      open();
      return feed.latest(clientId);
    },
    cursor() {
      open();
      return feed.written;
    },
    async close() {
      closed = true;
      await writing;
      await file?.close();
    },
  };
}

const CORRECTIONS_HEADER = { tidemark: 'corrections', version: 1 } as const;

/**
 * A durable {@link CorrectionStore} in `dir/corrections.ndjson`: an
 * append-only JSON-lines file, one line per `write` (a JSON array of
 * `{clientId, cursor, key, start, end, speed, batch, at}`) after a header
 * line `{"tidemark":"corrections","version":1}`. Opening replays it into
 * memory; a torn last line is ignored and cut off, so a write is all or
 * nothing. Writes arriving together share one `fdatasync`; `write`
 * resolves after it, and only then are the corrections visible to `since`.
 * Several processes may share the file, one writing at a time (the CLI's
 * batch runs hold the batch lock of the data directory): each `write`
 * first reads what others appended and numbers its corrections after
 * theirs, and `refresh()` reads them without writing.
 *
 * @param dir - the data directory (created if missing)
 * @throws {@link StorageError} when the file cannot be read, is of another kind, or is corrupt before its last line
 * @example
 * ```ts
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * import { fileCorrections } from 'tidemark/server';
 * const dir = mkdtempSync(join(tmpdir(), 'tidemark-'));
 * const corrections = await fileCorrections(dir);
 * await corrections.write([{ clientId: 'c1', key: '/', start: 0, end: 60_000, speed: 1, batch: 2, at: Date.now() }]);
 * await corrections.close();
 * console.log((await fileCorrections(dir)).since('c1', 0).cursor); // 1
 * ```
 */
export async function fileCorrections(dir: string): Promise<CorrectionStore> {
  const feed = new Feed();
  const path = join(dir, 'corrections.ndjson');
  const file = await AppendFile.open(path, CORRECTIONS_HEADER, (value) => {
    if (!Array.isArray(value) || !value.every(isStored))
      throw new StorageError(`${path} holds a line that is not a list of corrections: ${JSON.stringify(value).slice(0, 80)}`);
    feed.add(value);
    // Lines in the file are durable: readable at once.
    if (value.length > 0) feed.written = Math.max(feed.written, value[value.length - 1]!.cursor);
  }, { cutOnOpen: false }); // another process's batch run may be writing its last line now
  return correctionStore(feed, file, `the correction store in ${dir} is closed`);
}

function isStored(v: unknown): v is Correction & { clientId: string } {
  const c = v as Partial<Correction & { clientId: string }> | null;
  return (
    typeof c?.clientId === 'string' &&
    typeof c.cursor === 'number' &&
    (typeof c.key === 'string' || typeof c.key === 'number') &&
    typeof c.start === 'number' &&
    typeof c.end === 'number' &&
    typeof c.at === 'number'
  );
}
