/// <reference types="node" />
/**
 * Reading a file log beside the process that writes it: a snapshot of what
 * its segments hold when it is opened, with no lock taken and nothing cut.
 *
 * @module
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, errorParts, InvalidOptionError, RuntimeClosedError, StorageError } from '../errors.js';
import { Coverage, progress } from '../host/ingest/coverage.js';
import type { ClientProgress, EventLog, LoggedEvent } from '../host/ingest/log.js';
import { segmentName } from './file-log-format.js';
import { coverRetired, readRetired } from './file-log-retired.js';
import { coverFrames, readSegments, scanLog } from './file-log-segments.js';

/** Events per chunk yielded by `read()`. */
const READ_CHUNK_EVENTS = 4096;

/**
 * A read-only {@link EventLog} over a file log's directory (see
 * {@link readFileLog}): `append` rejects, `read()` and `clients()` answer
 * what the segments held when it was opened.
 */
export interface FileLogSnapshot extends EventLog {
  /** The log's directory. */
  readonly dir: string;
  /** Segment files in the snapshot. */
  readonly segments: number;
}

/**
 * Opens a snapshot of the file log in `dir` for reading, beside the process
 * that writes it (`tidemark serve`): `tidemark export`, `tidemark
 * reconcile` and `tidemark replay` read the log this way. It takes no lock
 * and writes nothing: every frame complete and intact when it is opened is
 * in the snapshot, and a frame still being written at the end of the last
 * segment is left out (it is in the next snapshot), never cut. `clients()`
 * and `read()` agree: they describe the same frames. Damage anywhere else
 * throws the {@link StorageError} that opening the log with
 * {@link fileLog} would.
 *
 * @param dir - the log's directory (`<data>/log` for the CLI)
 * @throws {@link StorageError} when `dir` holds no log, or a damaged one
 * @example
 * ```ts
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * import { fileLog, readFileLog } from 'tidemark/server';
 *
 * const dir = mkdtempSync(join(tmpdir(), 'events-'));
 * const log = await fileLog(dir); // the server's, still open
 * await log.append('c1', [{ seq: 1, ts: 1_000, data: { page: '/' } }], Date.now());
 * const snapshot = await readFileLog(dir); // another reader: no lock, nothing cut
 * console.log(snapshot.clients()[0]?.ackedThrough); // 1
 * await snapshot.close();
 * await log.close();
 * ```
 */
export async function readFileLog(dir: string): Promise<FileLogSnapshot> {
  if (typeof dir !== 'string' || dir.length === 0)
    throw new InvalidOptionError('readFileLog.dir', `expected a directory path (a non-empty string), got ${describe(dir)}`);
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
  } catch (e) {
    throw new StorageError(
      `there is no log in ${dir} (${errorParts(e).message}): point --data at the directory \`tidemark serve\` writes ` +
        `(its log is <data>/log, with files like ${segmentName(1)})`,
    );
  }
  const clients = new Map<string, Coverage>();
  const counted = { events: 0 };
  const coverage = (clientId: string): Coverage => {
    let c = clients.get(clientId);
    if (!c) clients.set(clientId, (c = new Coverage()));
    return c;
  };
  const retired = await readRetired(dir);
  coverRetired(retired, coverage);
  const scan = await scanLog(dir, coverFrames(coverage, counted), { cut: false, retired });
  const segments = scan.segments.map((s) => ({ file: join(dir, segmentName(s.n)), size: s.size }));
  let closed = false;
  const whenOpen = (what: string) => {
    if (closed) throw new RuntimeClosedError(`${what} after close(): this snapshot of ${dir} is closed; read the log again`);
  };
  return {
    dir,
    segments: segments.length,
    append() {
      return Promise.reject(
        new StorageError(`this is a read-only snapshot of the log in ${dir}: append through the process that serves it`),
      );
    },
    async *read(options?: { readonly clientId?: string }): AsyncIterable<readonly LoggedEvent[]> {
      whenOpen('read()');
      const only = options?.clientId;
      if (only !== undefined && typeof only !== 'string')
        throw new InvalidOptionError('read.clientId', `expected a client id string, got ${describe(only)}; omit it to read every client`);
      yield* readSegments(segments, only, READ_CHUNK_EVENTS);
    },
    clients(): readonly ClientProgress[] {
      return [...clients].map(([id, c]) => progress(id, c));
    },
    stats() {
      return { events: counted.events, bytes: segments.reduce((n, s) => n + s.size, 0), clients: clients.size };
    },
    async close() {
      closed = true;
    },
  };
}
