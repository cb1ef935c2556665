/// <reference types="node" />
/**
 * Reading segment files: streaming their frames with bounded memory, and
 * the scan that opens a log (verify every frame, cut a torn tail, refuse
 * damage anywhere else), shared by the writer (`file-log.ts`), the readers
 * beside it (`file-log-snapshot.ts`) and retention (`file-log-retired.ts`):
 * ~320 lines, one concern (the segment files' bytes).
 *
 * @internal
 * @module
 */
import type { FileHandle } from 'node:fs/promises';
import { open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { StorageError } from '../errors.js';
import type { Coverage } from '../host/ingest/coverage.js';
import type { Retired } from './file-log-retired.js';
import type { LoggedEvent } from '../host/ingest/log.js';
import type { WireEvent } from '../protocol/wire.js';
import {
  checkFrame,
  decodeHeader,
  decodeRows,
  FRAME_HEADER_BYTES,
  type FrameHeader,
  MAX_PAYLOAD_BYTES,
  SEGMENT_HEADER_BYTES,
  SEGMENT_MAGIC,
  segmentName,
  segmentNumber,
} from './file-log-format.js';

/** A place in a `FileLog`: the end of a frame (segment number and byte offset). */
export interface LogPosition {
  readonly segment: number;
  readonly offset: number;
}

/** One append as the log holds it: one client's events, and where the frame ends. */
export interface LogFrame {
  readonly clientId: string;
  readonly receivedAt: number;
  /** The events of the frame (those the append found fresh), in sequence order. */
  readonly events: readonly WireEvent[];
  readonly end: LogPosition;
}

const READ_CHUNK = 1024 * 1024;

/** A frame as read: its offset in the file and its payload (valid until the next one is read). */
export type ReadFrame =
  | { readonly offset: number; readonly payload: Buffer; readonly bad?: undefined }
  | { readonly offset: number; readonly bad: string };

/**
 * Yields the frames of `fh` between byte `start` and `end`, checking each
 * one's length and CRC; stops after the first bad one (yielded with `bad`).
 * Memory stays at one 1 MiB buffer, or one frame when a frame is larger.
 * A payload shares that buffer: use it before asking for the next frame.
 */
export async function* readFrames(fh: FileHandle, start: number, end: number): AsyncGenerator<ReadFrame> {
  let buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, Math.max(end - start, FRAME_HEADER_BYTES)));
  let base = start; // file offset of buf[0]
  let pos = 0; // next frame, in buf
  let filled = 0; // bytes loaded in buf
  // Loads at least `need` bytes from `pos`, unless the range ends first.
  const load = async (need: number): Promise<boolean> => {
    if (pos + need > buf.length) {
      const next = need > buf.length ? Buffer.allocUnsafe(Math.max(need, READ_CHUNK)) : buf;
      buf.copy(next, 0, pos, filled);
      buf = next;
      base += pos;
      filled -= pos;
      pos = 0;
    }
    while (filled - pos < need && base + filled < end) {
      const { bytesRead } = await fh.read(buf, filled, Math.min(buf.length - filled, end - base - filled), base + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled - pos >= need;
  };
  while (base + pos < end) {
    const offset = base + pos;
    for (;;) {
      const check = checkFrame(buf, pos, filled - pos);
      if (check.kind === 'ok') {
        const frameEnd = pos + FRAME_HEADER_BYTES + check.length;
        yield { offset, payload: buf.subarray(pos + FRAME_HEADER_BYTES, frameEnd) };
        pos = frameEnd;
        break;
      }
      if (check.kind === 'bad') {
        yield { offset, bad: check.reason };
        return;
      }
      if (!(await load(check.bytes))) {
        yield { offset, bad: `incomplete frame (${end - offset} bytes left, the frame needs ${check.bytes})` };
        return;
      }
    }
  }
}

/**
 * The offset of the first valid frame (length in range, CRC matching) that
 * starts after `from`, or `undefined`. Used only on recovery, to tell a
 * torn tail (nothing valid after the damage) from damage in the middle.
 */
export async function findValidFrame(fh: FileHandle, from: number, end: number): Promise<number | undefined> {
  const window = Buffer.allocUnsafe(4 * READ_CHUNK);
  let wStart = from;
  let wLen = 0;
  for (let p = from; p + FRAME_HEADER_BYTES < end; p++) {
    if (p + FRAME_HEADER_BYTES > wStart + wLen) {
      wStart = p;
      wLen = (await fh.read(window, 0, Math.min(window.length, end - p), p)).bytesRead;
      if (wLen < FRAME_HEADER_BYTES) return undefined;
    }
    const at = p - wStart;
    const length = window.readUInt32LE(at);
    // Cheap rejections first: almost every offset fails here.
    if (length === 0 || length > MAX_PAYLOAD_BYTES || p + FRAME_HEADER_BYTES + length > end) continue;
    const total = FRAME_HEADER_BYTES + length;
    let check;
    if (at + total <= wLen) check = checkFrame(window, at, wLen - at);
    else {
      const frame = Buffer.allocUnsafe(total);
      await fh.read(frame, 0, total, p);
      check = checkFrame(frame, 0, total);
    }
    if (check.kind === 'ok') return p;
  }
  return undefined;
}

/** A torn tail cut off the last segment when the log was opened. */
export interface RecoveryReport {
  /** The segment's path. */
  readonly file: string;
  /** Where the segment now ends: the damaged frame started here. */
  readonly offset: number;
  /** Bytes cut. */
  readonly bytes: number;
  /** What was wrong with the first cut frame. */
  readonly reason: string;
}

/** The segments found by {@link scanLog}: numbers and sizes, oldest first. */
export interface ScannedSegment {
  readonly n: number;
  readonly size: number;
}

function corrupt(file: string, offset: number, what: string): StorageError {
  return new StorageError(
    `${file} is damaged at byte ${offset}: ${what}. This is not a torn write from a crash (those only hit ` +
      'the end of the last segment), so acknowledged events may be affected and the log refuses to open ' +
      'rather than drop them. Restore the file from a backup; or, to keep the events before the damage and ' +
      `lose the rest of this file, cut it there (\`truncate -s ${offset} '${file}'\`) and open the log again.`,
  );
}

/**
 * Opens and checks every segment of the log in `dir`, calling `onFrame` for
 * each valid frame in log order. A torn tail at the end of the last segment
 * (an incomplete or bad frame with no valid frame after it) is cut and
 * reported (with `cut: false`, a reader's, it is left alone and the
 * segment's size ends before it); any other damage throws a {@link StorageError} naming the file,
 * the byte offset and how to fix it. Returns the segments, at least one
 * (the first is created in an empty directory).
 */
export async function scanLog(
  dir: string,
  onFrame: (header: FrameHeader, file: string, offset: number) => void,
  options: { readonly cut: boolean; readonly retired?: Retired | undefined } = { cut: true },
): Promise<{ segments: ScannedSegment[]; recovered: RecoveryReport | undefined }> {
  let numbers = (await readdir(dir))
    .map(segmentNumber)
    .filter((n): n is number => n !== undefined)
    .sort((a, b) => a - b);
  const { retired } = options;
  // Retired segments a crash left behind: the writer deletes them, a reader skips them.
  if (retired) numbers = options.cut ? await deleteRetired(dir, numbers, retired) : numbers.filter((n) => n > retired.through);
  if (retired && numbers.length > 0 && numbers[0] !== retired.through + 1)
    throw new StorageError(
      `${join(dir, segmentName(retired.through + 1))} is missing (retention deleted the segments through ` +
        `${segmentName(retired.through)}, and the log goes on at ${segmentName(numbers[0]!)}): a segment was deleted or moved, and its events with it. Put it back.`,
    );
  for (let i = 1; i < numbers.length; i++) {
    if (numbers[i] !== numbers[i - 1]! + 1)
      throw new StorageError(
        `${join(dir, segmentName(numbers[i - 1]! + 1))} is missing (the log has ${segmentName(numbers[i - 1]!)} and ` +
          `${segmentName(numbers[i]!)}): a segment was deleted or moved, and its events with it. Put it back.`,
      );
  }
  const segments: ScannedSegment[] = [];
  let recovered: RecoveryReport | undefined;
  for (let i = 0; i < numbers.length; i++) {
    const n = numbers[i]!;
    const file = join(dir, segmentName(n));
    const last = i === numbers.length - 1;
    const fh = await open(file, 'r');
    let size: number;
    let cut: { offset: number; reason: string } | undefined;
    try {
      size = (await fh.stat()).size;
      const magic = Buffer.alloc(SEGMENT_HEADER_BYTES);
      await fh.read(magic, 0, SEGMENT_HEADER_BYTES, 0);
      if (size < SEGMENT_HEADER_BYTES) {
        // A segment is created with its magic written and synced before
        // any frame goes in: a shorter last segment is a creation torn by a
        // crash, and holds nothing.
        if (!last) throw corrupt(file, 0, `the file is ${size} bytes long, shorter than a segment header`);
        cut = { offset: 0, reason: 'incomplete segment header' };
      } else if (!magic.equals(SEGMENT_MAGIC)) {
        throw new StorageError(
          `${file} does not start with ${SEGMENT_MAGIC.toString('latin1')}: it is not a Tidemark log segment, or ` +
            `one of a format version this release cannot read. Move it out of ${dir}.`,
        );
      } else {
        for await (const frame of readFrames(fh, SEGMENT_HEADER_BYTES, size)) {
          if (frame.bad === undefined) {
            const header = decodeHeader(frame.payload);
            if (!header) throw corrupt(file, frame.offset, 'a frame whose CRC matches holds no valid header line');
            onFrame(header, file, frame.offset);
            continue;
          }
          const next = last ? await findValidFrame(fh, frame.offset + 1, size) : undefined;
          if (!last) throw corrupt(file, frame.offset, `${frame.bad}, in a segment that is not the last`);
          if (next !== undefined) throw corrupt(file, frame.offset, `${frame.bad}, followed by a valid frame at byte ${next}`);
          cut = { offset: frame.offset, reason: frame.bad };
        }
      }
    } finally {
      await fh.close();
    }
    if (cut && !options.cut) {
      // A reader beside the writer: the tail is a write in progress (or a
      // torn one the writer cuts when it opens). The snapshot ends before it.
      size = cut.offset;
    } else if (cut) {
      const w = await open(file, 'r+');
      try {
        await w.truncate(cut.offset);
        await w.sync();
      } finally {
        await w.close();
      }
      recovered = { file, offset: cut.offset, bytes: size - cut.offset, reason: cut.reason };
      size = cut.offset;
    }
    segments.push({ n, size });
  }
  return { segments, recovered };
}

/**
 * The events of `segments` (each read up to its `size`) in log order, in
 * chunks of `chunkEvents`, of one client when `only` is given. A frame
 * that fails its check now, though the scan that found `size` passed it,
 * throws a {@link StorageError}.
 */
export async function* readSegments(
  segments: readonly { readonly file: string; readonly size: number }[],
  only: string | undefined,
  chunkEvents: number,
): AsyncGenerator<LoggedEvent[]> {
  let chunk: LoggedEvent[] = [];
  for (const s of segments) {
    const h = await open(s.file, 'r').catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
      throw new StorageError(
        `${s.file} is gone: retention deleted it while this snapshot of the log was being read (its events were ` +
          'older than the horizon and their windows final). Read the log again: the next snapshot starts after it.',
      );
    });
    try {
      for await (const frame of readFrames(h, SEGMENT_HEADER_BYTES, s.size)) {
        const { header, payload } = soundFrame(s.file, frame);
        if (only !== undefined && header.clientId !== only) continue;
        const { clientId, receivedAt } = header;
        for (const [seq, ts, data] of decodeRows(payload)) {
          chunk.push({ clientId, seq, ts, receivedAt, data });
          if (chunk.length === chunkEvents) {
            yield chunk;
            chunk = [];
          }
        }
      }
    } finally {
      await h.close();
    }
  }
  if (chunk.length > 0) yield chunk;
}

/**
 * The header and payload of a frame read from a segment that the scan at opening found
 * sound; a frame that fails its check now throws a {@link StorageError}.
 */
function soundFrame(file: string, frame: ReadFrame): { header: FrameHeader; payload: Buffer } {
  const header = frame.bad === undefined ? decodeHeader(frame.payload) : undefined;
  if (frame.bad !== undefined || !header)
    throw new StorageError(
      `${file} is damaged at byte ${frame.offset} (${frame.bad ?? 'no valid header line'}), though it ` +
        'was sound when the log was opened: the disk or something else changed it. Close the log; ' +
        'opening it again says how to fix it.',
    );
  return { header, payload: frame.payload };
}

/**
 * The frames of one segment from byte `start` up to its `size`, decoded, each
 * with the position of its end (see `FileLog.frames`).
 */
export async function* readLogFrames(
  segment: { readonly n: number; readonly file: string; readonly size: number },
  start: number,
): AsyncGenerator<LogFrame> {
  const h = await open(segment.file, 'r');
  try {
    for await (const frame of readFrames(h, start, segment.size)) {
      const { header, payload } = soundFrame(segment.file, frame);
      const end = { segment: segment.n, offset: frame.offset + FRAME_HEADER_BYTES + payload.length };
      const events = decodeRows(payload).map(([seq, ts, data]) => ({ seq, ts, data }));
      yield { clientId: header.clientId, receivedAt: header.receivedAt, events, end };
    }
  } finally {
    await h.close();
  }
}

/**
 * The `onFrame` of {@link scanLog} that builds each client's coverage
 * (through `coverage(clientId)`), refusing a frame that repeats events an
 * earlier one holds; adds the events counted to `counted.events`.
 */
export function coverFrames(
  coverage: (clientId: string) => Coverage,
  counted: { events: number },
): (header: FrameHeader, file: string, offset: number) => void {
  return (header, file, offset) => {
    const c = coverage(header.clientId);
    for (const [first, last] of header.ranges) {
      if (overlaps(c, first, last))
        throw new StorageError(
          `${file}: the frame at byte ${offset} repeats events ${first}..${last} of client ${header.clientId}, which ` +
            'an earlier frame holds. This log never writes an event twice, so the directory was written by ' +
            'something else too (two processes, or files copied in). Restore it from a backup.',
        );
      c.addRange(first, last);
      counted.events += last - first + 1;
    }
  };
}

/** Any overlap of `[first, last]` with what `c` holds. */
export function overlaps(c: Coverage, first: number, last: number): boolean {
  if (first <= c.through) return true;
  for (const [a, b] of c.above) if (a <= last && b >= first) return true;
  return false;
}

/** Deletes segments the record says are retired but a crash left on disk. */
export async function deleteRetired(dir: string, numbers: readonly number[], retired: Retired | undefined): Promise<number[]> {
  if (!retired) return [...numbers];
  const left: number[] = [];
  for (const n of numbers) {
    if (n <= retired.through) await unlink(join(dir, segmentName(n)));
    else left.push(n);
  }
  return left;
}
