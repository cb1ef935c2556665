/// <reference types="node" />
/**
 * The embedded, default server log: append-only segment files in one
 * directory, fsynced with group commit, exactly once per `(clientId, seq)`.
 * The byte format is described in `file-log-format.ts`. Node only: the
 * `reference types` line says so to type-checkers that leave Node's types
 * out by default (the doc-example check does).
 *
 * Why one file of ~500 lines: appending (group commit, fsync, recovery of a
 * torn tail) and reading share the open segment handle and its in-memory
 * index; split apart, each half would need the other's private state.
 *
 * @module
 */
import { mkdir, open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, errorParts, InvalidOptionError, ProtocolError, RuntimeClosedError, StorageError } from '../errors.js';
import { optionalFunction, rejectUnknown, requireObject } from '../options.js';
import type { WireEvent } from '../protocol/wire.js';
import { Coverage, progress } from '../host/ingest/coverage.js';
import {
  type EncodedFrame,
  encodeFrame,
  FRAME_HEADER_BYTES,
  MAX_PAYLOAD_BYTES,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  segmentName,
} from './file-log-format.js';
import { syncDir } from './durable-files.js';
import { coverFrames, type LogFrame, type LogPosition, readLogFrames, readSegments, type RecoveryReport, scanLog } from './file-log-segments.js';
import { lockDir } from './file-lock.js';
import { coverRetired, readRetired, type RetireReport, retireSegments, type RetiringEvent } from './file-log-retired.js';
import { type AppendOutcome, checkAppend, type ClientProgress, type EventLog, type LoggedEvent } from '../host/ingest/log.js';

export type { LogFrame, LogPosition, RecoveryReport } from './file-log-segments.js';
export type { RetireReport, RetiringEvent } from './file-log-retired.js';

/** Options of {@link fileLog}. */
export interface FileLogOptions {
  /**
   * Start a new segment file once a write would take the current one past
   * this many bytes (a single frame larger than this gets a segment of its
   * own). Whole number ≥ 4096. Default 128 MiB.
   */
  readonly segmentBytes?: number;
  /**
   * Called during opening when a torn tail (the end of a write that a crash
   * interrupted, never acknowledged) was cut off the last segment. The same
   * report is on {@link FileLog.recovered}.
   */
  readonly onRecover?: (report: RecoveryReport) => void;
}

/** Counters of a {@link FileLog} since it was opened: what group commit saved. */
export interface FileLogDiagnostics {
  /** Appends that wrote a frame (those with at least one new event). */
  readonly appends: number;
  /** Group writes: one `writev` per group and segment. */
  readonly writes: number;
  /** `fdatasync`/`fsync` calls, including those that create a segment. */
  readonly fsyncs: number;
  /** Segment files. */
  readonly segments: number;
}

/**
 * The {@link EventLog} returned by {@link fileLog}, with what opening
 * recovered and counters. `clients()` and `stats()` count events as soon as
 * an append accepts them, before they are durable; after a failed write
 * they may count events that are not on disk (the log then refuses appends
 * until it is opened again).
 */
export interface FileLog extends EventLog {
  /** The log's directory. */
  readonly dir: string;
  /** The torn tail cut off when the log was opened, if any. */
  readonly recovered: RecoveryReport | undefined;
  /** Counters since the log was opened. */
  diagnostics(): FileLogDiagnostics;
  /**
   * Retention: deletes whole segments, oldest first, never the one being
   * written, while `test` passes for every event in them (it stops at the
   * first segment holding an event that fails). The deleted events' sequence
   * numbers stay covered: sent again, they are duplicates. Their frames are
   * gone for good (`read()` no longer yields them); `clients()` still counts
   * them. `prepare` runs once the segments are chosen, before anything is
   * deleted (a failure there deletes nothing). `tidemark serve --retention`
   * calls it once the batch layer has made final every window those events feed.
   */
  retire(test: (event: RetiringEvent) => boolean, prepare?: (chosen: RetireReport) => Promise<void>): Promise<RetireReport>;
  /**
   * Calls `listener` with each group of frames once it is durable, in the
   * order they are on disk, each with its position: what a consumer that
   * tails the log (the global speed layer of `tidemark serve --pipeline`)
   * processes without reading it back. Returns the function that stops it.
   */
  follow(listener: (frames: readonly LogFrame[]) => void): () => void;
  /**
   * The durable frames after `position` (the start of the log without it),
   * in log order, up to what is durable now: where a consumer that tails
   * the log catches up from its checkpoint. A position in a segment that
   * retention deleted starts at the oldest segment kept.
   */
  frames(after?: LogPosition): AsyncIterable<LogFrame>;
}


const DEFAULT_SEGMENT_BYTES = 128 * 1024 * 1024;
const MIN_SEGMENT_BYTES = 4096;
/** A group bigger than this is closed and the next append starts another (bounds one write). */
const MAX_GROUP_BYTES = 16 * 1024 * 1024;
/** Events per chunk yielded by `read()`. */
const READ_CHUNK_EVENTS = 4096;

/**
 * The two calls group commit makes per group. Tests replace them to count
 * calls, hold an fsync open, or make one fail. @internal
 */
export interface SyncIo {
  /** Writes `buffers` at `position`; resolves to the bytes written. */
  writev(fh: FileHandle, buffers: readonly Buffer[], position: number): Promise<number>;
  datasync(fh: FileHandle): Promise<void>;
}

const nodeIo: SyncIo = {
  writev: async (fh, buffers, position) => (await fh.writev(buffers as Buffer[], position)).bytesWritten,
  datasync: (fh) => fh.datasync(),
};

/**
 * Opens (or creates) the durable log in directory `dir`: append-only
 * segment files `events-00000001.log`, … of CRC-checked frames, one frame
 * per append. `append` resolves once its events are fsynced; appends that
 * arrive while a write is in flight share the next write and fsync (group
 * commit). Ingest is idempotent per `(clientId, seq)`, in any order and
 * across restarts: opening re-reads every segment and rebuilds each
 * client's coverage.
 *
 * Opening cuts a torn tail left by a crash (an incomplete or bad frame at
 * the end of the last segment, see {@link FileLogOptions.onRecover}) and
 * throws a {@link StorageError} for damage anywhere else, naming the file,
 * the offset and the fix. A `LOCK` file keeps a second process (or a second
 * `fileLog` in this one) out; the lock of a process that died is taken
 * over. A failed write or fsync makes every later append reject with a
 * `StorageError`: close the log and open it again.
 *
 * @param dir - The log's directory, created if missing.
 * @param options - See {@link FileLogOptions}; checked before any file is touched.
 * @returns The open log; `close()` it to release the directory.
 * @see {@link memoryLog} for tests, and {@link EventLog} for the contract.
 *
 * @example
 * ```ts
 * import { mkdtempSync } from 'node:fs';
 * import { tmpdir } from 'node:os';
 * import { join } from 'node:path';
 * import { fileLog } from 'tidemark/server';
 *
 * const log = await fileLog(mkdtempSync(join(tmpdir(), 'events-')), {
 *   onRecover: (r) => console.warn(`cut ${r.bytes} bytes of a torn write from ${r.file}`),
 * });
 * const events = [{ seq: 1, ts: 1_000, data: { page: '/' } }, { seq: 2, ts: 1_500, data: { page: '/a' } }];
 * await log.append('c1', events, Date.now()); // durable once it resolves
 * const again = await log.append('c1', events, Date.now()); // a replay
 * console.log(again.appended, again.duplicates, again.ackedThrough); // 0 2 2
 * for await (const chunk of log.read({ clientId: 'c1' })) console.log(chunk.length); // 2
 * await log.close();
 * ```
 */
export function fileLog(dir: string, options?: FileLogOptions): Promise<FileLog> {
  return openFileLog(dir, options, nodeIo);
}

function checkOptions(dir: unknown, options: FileLogOptions | undefined): void {
  if (typeof dir !== 'string' || dir.length === 0)
    throw new InvalidOptionError('fileLog.dir', `expected a directory path (a non-empty string), got ${describe(dir)}`);
  if (options === undefined) return;
  requireObject('fileLog.options', options);
  rejectUnknown('fileLog', options, ['segmentBytes', 'onRecover']);
  const { segmentBytes } = options;
  if (
    segmentBytes !== undefined &&
    (typeof segmentBytes !== 'number' || !Number.isSafeInteger(segmentBytes) || segmentBytes < MIN_SEGMENT_BYTES)
  )
    throw new InvalidOptionError(
      'fileLog.segmentBytes',
      `must be a whole number of bytes >= ${MIN_SEGMENT_BYTES}, got ${describe(segmentBytes)}; omit it for 128 MiB`,
    );
  optionalFunction('fileLog.onRecover', options.onRecover);
}

interface Group {
  readonly frames: EncodedFrame[];
  /** What each frame holds, for `follow` (only filled while someone follows). */
  readonly entries: { clientId: string; receivedAt: number; events: readonly WireEvent[]; end?: LogPosition }[];
  bytes: number;
  durable: boolean;
  readonly done: Promise<void>;
  resolve(): void;
  reject(e: unknown): void;
}

function newGroup(): Group {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Every group is awaited by the append that opened it; this only keeps a
  // rejection nobody else awaits from counting as unhandled.
  done.catch(() => undefined);
  return { frames: [], entries: [], bytes: 0, durable: false, done, resolve, reject };
}

interface ClientState {
  readonly coverage: Coverage;
  /** The last group holding events of this client: a replay waits for it. */
  last: Group | undefined;
}

interface Segment {
  readonly n: number;
  readonly file: string;
  /** Bytes durable (written and fsynced); also where the next write goes. */
  size: number;
}

/** {@link fileLog} with the write and fsync calls injected. @internal */
export async function openFileLog(dir: string, options: FileLogOptions | undefined, io: SyncIo): Promise<FileLog> {
  checkOptions(dir, options);
  const segmentBytes = options?.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  try {
    await mkdir(dir, { recursive: true });
  } catch (e) {
    throw new StorageError(`cannot create the log directory ${dir}: ${errorParts(e).message}`, { cause: e });
  }
  const lock = await lockDir(dir);

  const clients = new Map<string, ClientState>();
  let events = 0;
  const segments: Segment[] = [];
  let current!: Segment;
  let fh!: FileHandle; // the current segment, open for writing
  let recovered: RecoveryReport | undefined;
  const counters = { appends: 0, writes: 0, fsyncs: 0 };

  const createSegment = async (n: number): Promise<FileHandle> => {
    const file = join(dir, segmentName(n));
    const h = await open(file, 'wx');
    try {
      await writeAll(h, [SEGMENT_MAGIC], 0);
      await io.datasync(h);
      // The new file's directory entry must be durable too, or a crash
      // could lose the whole segment along with acknowledged events.
      await syncDir(dir);
      counters.fsyncs += 2;
    } catch (e) {
      await h.close();
      throw e;
    }
    segments.push((current = { n, file, size: SEGMENT_HEADER_BYTES }));
    return h;
  };

  const writeAll = async (h: FileHandle, buffers: readonly Buffer[], position: number): Promise<void> => {
    let written = await io.writev(h, buffers, position);
    const total = buffers.reduce((s, b) => s + b.length, 0);
    // writev may write less than asked (a full disk answers with an error
    // on the next call): write the rest, or learn why not.
    while (written < total) {
      const rest: Buffer[] = [];
      let skip = written;
      for (const b of buffers) {
        if (skip >= b.length) skip -= b.length;
        else {
          rest.push(skip > 0 ? b.subarray(skip) : b);
          skip = 0;
        }
      }
      const n = await io.writev(h, rest, position + written);
      if (n <= 0) throw new Error(`writev wrote ${n} of ${total - written} bytes`);
      written += n;
    }
  };

  try {
    const counted = { events: 0 };
    const coverage = (clientId: string): Coverage => {
      let c = clients.get(clientId);
      if (!c) clients.set(clientId, (c = { coverage: new Coverage(), last: undefined }));
      return c.coverage;
    };
    const retired = await readRetired(dir);
    coverRetired(retired, coverage);
    const scan = await scanLog(dir, coverFrames(coverage, counted), { cut: true, retired });
    events = counted.events;
    recovered = scan.recovered;
    for (const s of scan.segments) segments.push({ n: s.n, file: join(dir, segmentName(s.n)), size: s.size });
    const last = segments[segments.length - 1];
    if (!last) fh = await createSegment((retired?.through ?? 0) + 1);
    else {
      current = last;
      fh = await open(last.file, 'r+');
      if (last.size === 0) {
        // Its creation was torn by a crash (and cut to 0 bytes by the scan).
        await writeAll(fh, [SEGMENT_MAGIC], 0);
        await io.datasync(fh);
        last.size = SEGMENT_HEADER_BYTES;
      }
    }
    if (recovered) options?.onRecover?.(recovered);
  } catch (e) {
    await fh?.close();
    await lock.release();
    throw e;
  }

  let closed = false;
  let closing: Promise<void> | undefined;
  /** Set by the first failed write or fsync; every later append rejects with it. */
  let failure: StorageError | undefined;
  const queue: Group[] = []; // waiting to be written; the last one collects new frames
  let writing = false;
  let tail: Group | undefined; // the newest group

  const diskBytes = () => segments.reduce((s, x) => s + x.size, 0);

  const writeGroup = async (g: Group): Promise<void> => {
    let i = 0;
    while (i < g.frames.length) {
      const buffers: Buffer[] = [];
      let bytes = 0;
      let j = i;
      for (; j < g.frames.length; j++) {
        const f = g.frames[j]!;
        if (current.size + bytes + f.bytes > segmentBytes && (bytes > 0 || current.size > SEGMENT_HEADER_BYTES)) break;
        buffers.push(...f.buffers);
        bytes += f.bytes;
      }
      if (j === i) {
        // Roll: the current segment is complete and synced.
        const next = await createSegment(current.n + 1);
        await fh.close();
        fh = next;
        continue;
      }
      const start = current.size;
      await writeAll(fh, buffers, start);
      await io.datasync(fh);
      counters.writes++;
      counters.fsyncs++;
      current.size += bytes;
      if (g.entries.length > 0) {
        let at = start;
        for (let k = i; k < j; k++) {
          at += g.frames[k]!.bytes;
          g.entries[k]!.end = { segment: current.n, offset: at };
        }
      }
      i = j;
    }
  };

  const pump = async (): Promise<void> => {
    for (let g = queue.shift(); g; g = queue.shift()) {
      if (failure) {
        g.reject(failure);
        continue;
      }
      try {
        await writeGroup(g);
        g.durable = true;
        g.resolve();
        if (g.entries.length > 0 && followers.size > 0) {
          const frames = g.entries as LogFrame[];
          for (const f of followers) f(frames);
        }
      } catch (e) {
        // A failed write or fsync poisons the log for good. After fsync
        // reports an error, Linux may have dropped the dirty pages and
        // cleared the error, so a retried fsync can succeed with the data
        // never reaching the disk: PostgreSQL learned this in 2018
        // ("fsyncgate") and has panicked instead of retrying since. This
        // log refuses every later append; opening it again re-reads what
        // is really on disk and cuts a torn tail.
        failure = new StorageError(
          `writing the log in ${dir} failed (${errorParts(e).message}); the events of the failed write may ` +
            'not be on disk, and a retried fsync cannot prove they are, so the log refuses further appends. ' +
            'Fix the cause (disk full? I/O error in the system log?), then close the log and open it again: ' +
            'opening re-reads the segments and recovers.',
          { cause: e },
        );
        g.reject(failure);
      }
    }
    writing = false;
  };

  const followers = new Set<(frames: readonly LogFrame[]) => void>();

  const enqueue = (frame: EncodedFrame, clientId: string, receivedAt: number, fresh: readonly WireEvent[]): Group => {
    let g = queue[queue.length - 1];
    if (!g || g.bytes + frame.bytes > MAX_GROUP_BYTES) {
      queue.push((g = newGroup()));
      tail = g;
    }
    g.frames.push(frame);
    g.bytes += frame.bytes;
    // Entries are kept for every frame of a group or for none, so that frames[k] matches entries[k].
    if (followers.size > 0 && g.entries.length === g.frames.length - 1) g.entries.push({ clientId, receivedAt, events: fresh });
    if (!writing) {
      writing = true;
      // After the current task's other appends: a burst of appends made
      // in one tick goes out as one group.
      queueMicrotask(() => void pump());
    }
    return g;
  };

  const whenOpen = (what: string): void => {
    if (closed) throw new RuntimeClosedError(`${what} after close(): the file log of ${dir} is closed; open it again`);
  };

  return {
    dir,
    recovered,

    async append(clientId: string, batch: readonly WireEvent[], receivedAt: number): Promise<AppendOutcome> {
      // Everything up to the first await runs synchronously when append is
      // called: the fresh events are reserved in the client's coverage
      // before any other append can look, so two concurrent appends of the
      // same events never both write them.
      whenOpen('append()');
      if (failure) throw failure;
      checkAppend(clientId, batch, receivedAt);
      let c = clients.get(clientId);
      const fresh = c ? c.coverage.fresh(batch) : batch;
      if (fresh.length > 0) {
        let frame: EncodedFrame;
        try {
          frame = encodeFrame(clientId, receivedAt, fresh);
        } catch (e) {
          throw new ProtocolError(400, `the events' data cannot be stored as JSON (${errorParts(e).message})`, 'events');
        }
        if (frame.bytes - FRAME_HEADER_BYTES > MAX_PAYLOAD_BYTES)
          throw new ProtocolError(
            413,
            `this batch encodes to ${frame.bytes} bytes, above the ${MAX_PAYLOAD_BYTES} a frame holds; append it in smaller batches`,
            'events',
          );
        if (!c) clients.set(clientId, (c = { coverage: new Coverage(), last: undefined }));
        // Reserve: from here on, these sequence numbers count as held.
        for (const [first, last] of frame.ranges) c.coverage.addRange(first, last);
        events += fresh.length;
        counters.appends++;
        c.last = enqueue(frame, clientId, receivedAt, fresh);
      }
      const outcome: AppendOutcome = {
        appended: fresh.length,
        duplicates: batch.length - fresh.length,
        ackedThrough: c?.coverage.through ?? 0,
        gaps: c?.coverage.gaps() ?? [],
      };
      // Groups complete in order, so once the client's last group is
      // durable, so is every event this outcome counts, replays included.
      const wait = c?.last;
      if (wait && !wait.durable) await wait.done;
      return outcome;
    },

    async *read(options?: { readonly clientId?: string }): AsyncIterable<readonly LoggedEvent[]> {
      whenOpen('read()');
      const only = options?.clientId;
      if (only !== undefined && typeof only !== 'string')
        throw new InvalidOptionError('read.clientId', `expected a client id string, got ${describe(only)}; omit it to read every client`);
      // What is durable now; a later append may be missed, as EventLog allows.
      yield* readSegments(
        segments.map((s) => ({ file: s.file, size: s.size })),
        only,
        READ_CHUNK_EVENTS,
      );
    },

    clients(): readonly ClientProgress[] {
      return [...clients].map(([id, c]) => progress(id, c.coverage));
    },

    stats() {
      return { events, bytes: diskBytes(), clients: clients.size };
    },

    async retire(test, prepare = async () => {}) {
      whenOpen('retire()');
      const sealed = segments.filter((x) => x !== current).map((x) => ({ n: x.n, size: x.size }));
      const { report, through } = await retireSegments(dir, sealed, test, prepare);
      if (through !== undefined) for (let i = segments.length - 1; i >= 0; i--) if (segments[i]!.n <= through) segments.splice(i, 1);
      events -= report.events;
      return report;
    },

    follow(listener) {
      whenOpen('follow()');
      followers.add(listener);
      return () => void followers.delete(listener);
    },

    async *frames(after?: LogPosition): AsyncIterable<LogFrame> {
      whenOpen('frames()');
      const chosen = segments
        .filter((x) => after === undefined || x.n >= after.segment)
        .map((x) => ({ n: x.n, file: x.file, size: x.size }));
      for (const x of chosen) {
        const start = after !== undefined && x.n === after.segment ? after.offset : SEGMENT_HEADER_BYTES;
        if (start >= x.size) continue;
        yield* readLogFrames(x, start);
      }
    },

    diagnostics(): FileLogDiagnostics {
      return { ...counters, segments: segments.length };
    },

    close(): Promise<void> {
      if (!closing) {
        closed = true;
        closing = (async () => {
          // Flush: wait for every accepted append's group, failed or not.
          await tail?.done.catch(() => undefined);
          await fh.close();
          await lock.release();
        })();
      }
      return closing;
    },
  };
}
