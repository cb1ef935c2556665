/// <reference types="node" />
/**
 * Retention of the file log: whole segments, oldest first, deleted once a
 * caller's test passes for every event in them, and the `RETIRED` record
 * that remembers them (the last retired segment number, and which sequence
 * numbers of each client they held: a client that sends them again is
 * answered "duplicate", not appended again).
 *
 * @internal
 * @module
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorParts, StorageError } from '../errors.js';
import type { Coverage } from '../host/ingest/coverage.js';
import { decodeHeader, decodeRows, SEGMENT_HEADER_BYTES, segmentName } from './file-log-format.js';
import { syncDir, writeAtomically } from './durable-files.js';
import { readFrames } from './file-log-segments.js';

export const RETIRED_FILE = 'RETIRED';

/** What retention removed from a log, for good. */
export interface Retired {
  /** The highest segment number deleted: the log starts after it. */
  readonly through: number;
  /** Each client's sequence numbers that were in the deleted segments, as `[first, last]` ranges. */
  readonly clients: Readonly<Record<string, readonly (readonly [number, number])[]>>;
}

/** The `RETIRED` record of the log in `dir`, if retention ever deleted a segment there. */
export async function readRetired(dir: string): Promise<Retired | undefined> {
  const path = join(dir, RETIRED_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StorageError(`cannot read ${path}: ${errorParts(e).message}`, { cause: e });
  }
  const value = (() => {
    try {
      return JSON.parse(text) as Partial<Retired>;
    } catch {
      return undefined;
    }
  })();
  if (!value || !Number.isSafeInteger(value.through) || typeof value.clients !== 'object' || value.clients === null)
    throw new StorageError(
      `${path} is not a retention record (written by Tidemark when it deletes old segments); restore it from a backup, ` +
        'or, if no segment was ever deleted, remove it',
    );
  return value as Retired;
}

/** Seeds `coverage(clientId)` with the sequence numbers of retired segments. */
export function coverRetired(retired: Retired | undefined, coverage: (clientId: string) => Coverage): void {
  if (!retired) return;
  for (const [clientId, ranges] of Object.entries(retired.clients)) {
    const c = coverage(clientId);
    for (const [first, last] of ranges) c.addRange(first, last);
  }
}

/** One event as retention tests it. */
export interface RetiringEvent {
  readonly clientId: string;
  readonly receivedAt: number;
  /** The pipeline's event time, as the client sent it (`null`: unknown). */
  readonly ts: number | null;
}

/** What {@link retireSegments} deleted. */
export interface RetireReport {
  readonly segments: number;
  readonly events: number;
  readonly bytes: number;
}

/**
 * Deletes, oldest first, the segments of `candidates` (sealed segments:
 * never the one being written) whose every event passes `test`, stopping
 * at the first that does not; calls `prepare` once they are chosen (what
 * must outlive their events is saved there); records them in `RETIRED` (written to a
 * temporary file, synced, renamed), so a crash in between leaves files the
 * next open recognises as retired and deletes.
 */
export async function retireSegments(
  dir: string,
  candidates: readonly { readonly n: number; readonly size: number }[],
  test: (event: RetiringEvent) => boolean,
  prepare: (report: RetireReport) => Promise<void>,
): Promise<{ report: RetireReport; through: number | undefined }> {
  const previous = await readRetired(dir);
  const ranges = new Map<string, [number, number][]>(Object.entries(previous?.clients ?? {}).map(([id, r]) => [id, r.map(([a, b]) => [a, b] as [number, number])]));
  const chosen: { n: number; size: number }[] = [];
  let events = 0;
  for (const s of candidates) {
    const file = join(dir, segmentName(s.n));
    const fh = await open(file, 'r');
    let ok = true;
    const held: [string, number, number][] = [];
    let counted = 0;
    try {
      frames: for await (const frame of readFrames(fh, SEGMENT_HEADER_BYTES, s.size)) {
        const header = frame.bad === undefined ? decodeHeader(frame.payload) : undefined;
        if (frame.bad !== undefined || !header) throw new StorageError(`${file} is damaged at byte ${frame.offset}; retention stopped before it`);
        for (const [, ts] of decodeRows(frame.payload)) {
          counted++;
          if (!test({ clientId: header.clientId, receivedAt: header.receivedAt, ts })) {
            ok = false;
            break frames;
          }
        }
        for (const [first, last] of header.ranges) held.push([header.clientId, first, last]);
      }
    } finally {
      await fh.close();
    }
    if (!ok) break;
    chosen.push(s);
    events += counted;
    for (const [id, first, last] of held) {
      let r = ranges.get(id);
      if (!r) ranges.set(id, (r = []));
      r.push([first, last]);
    }
  }
  if (chosen.length === 0) return { report: { segments: 0, events: 0, bytes: 0 }, through: previous?.through };
  const report: RetireReport = { segments: chosen.length, events, bytes: chosen.reduce((n, s) => n + s.size, 0) };
  await prepare(report); // what must outlive the events, saved before they go
  const through = chosen[chosen.length - 1]!.n;
  const record: Retired = { through, clients: Object.fromEntries([...ranges].map(([id, r]) => [id, merge(r)])) };
  await writeAtomically(join(dir, RETIRED_FILE), JSON.stringify(record));
  for (const s of chosen) await unlink(join(dir, segmentName(s.n)));
  await syncDir(dir);
  return { report, through };
}

/** Sorted, merged ranges. */
function merge(ranges: [number, number][]): [number, number][] {
  ranges.sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const r of ranges) {
    const last = out[out.length - 1];
    if (last && r[0] <= last[1] + 1) last[1] = Math.max(last[1], r[1]);
    else out.push([r[0], r[1]]);
  }
  return out;
}
