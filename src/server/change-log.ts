/// <reference types="node" />
/**
 * The served view's changes on disk (`<data>/views/`), so that change ids
 * survive a restart and a dashboard resuming with `Last-Event-ID` after a
 * crash of the server sees every change once: a change is written (to the
 * operating system, with one `write` per batch of changes) before any
 * subscriber is sent it. A kill -9 of the server loses none; a power loss
 * may lose the last ones written, and a subscriber that saw them gets a
 * `reset` (not fsynced per change: that would cost the push its latency).
 *
 * Files: `rows.json` (the rows as of change `lastId`, written atomically)
 * and `changes-<first id>.ndjson` (one change per line). Every
 * `compactEvery` changes a new changes file starts, the rows are written,
 * and the older files go.
 *
 * @internal
 * @module
 */
import { closeSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ViewChange, ViewRow } from '../protocol/wire.js';
import { windowId } from '../windows/identity.js';
import { writeAtomically } from './durable-files.js';

/** The change log of one data directory. */
export interface ChangeLog {
  /** The rows subscribers were last sent, and the id of the last change. */
  readonly rows: ViewRow[];
  readonly lastId: number;
  /** The changes in the files (for subscribers resuming after a restart), oldest first. */
  readonly recent: ViewChange[];
  /** Writes `changes` (before they are pushed); every `compactEvery` changes, compacts with `rows()`. */
  append(changes: readonly ViewChange[], rows: () => ViewRow[]): void;
  close(): Promise<void>;
}

const CHANGES = /^changes-(\d+)\.ndjson$/;

/** Opens (or creates) the change log in `dir`, reading what a previous run left. */
export async function openChangeLog(dir: string, compactEvery = 100_000): Promise<ChangeLog> {
  await mkdir(dir, { recursive: true });
  let base = { lastId: 0, rows: [] as ViewRow[] };
  try {
    base = JSON.parse(readFileSync(join(dir, 'rows.json'), 'utf8')) as typeof base;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  const rows = new Map(base.rows.map((r) => [windowId(r), r] as const));
  let lastId = base.lastId;
  const recent: ViewChange[] = [];
  const files = readdirSync(dir)
    .map((f) => ({ f, first: Number(CHANGES.exec(f)?.[1]) }))
    .filter((x) => Number.isSafeInteger(x.first))
    .sort((a, b) => a.first - b.first);
  for (const { f } of files) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (line.length === 0) continue;
      let change: ViewChange;
      try {
        change = JSON.parse(line) as ViewChange;
      } catch {
        break; // a line torn by a crash: the last one written, never sent
      }
      if (change.id <= lastId) continue;
      lastId = change.id;
      recent.push(change);
      if (change.op === 'delete') rows.delete(windowId(change.row));
      else rows.set(windowId(change.row), change.row);
    }
  }
  let fd = openSync(join(dir, `changes-${lastId + 1}.ndjson`), 'a');
  let sinceCompaction = recent.length;
  let compacting: Promise<void> = Promise.resolve();

  const compact = (rowsNow: ViewRow[], through: number) => {
    closeSync(fd);
    fd = openSync(join(dir, `changes-${through + 1}.ndjson`), 'a');
    sinceCompaction = 0;
    compacting = compacting.then(async () => {
      await writeAtomically(join(dir, 'rows.json'), JSON.stringify({ lastId: through, rows: rowsNow }));
      for (const f of readdirSync(dir)) {
        const first = Number(CHANGES.exec(f)?.[1]);
        if (Number.isSafeInteger(first) && first <= through) unlinkSync(join(dir, f));
      }
    });
  };

  return {
    rows: [...rows.values()],
    lastId,
    recent,
    append(changes, rowsNow) {
      if (changes.length === 0) return;
      let text = '';
      for (const c of changes) text += `${JSON.stringify(c)}\n`;
      const bytes = Buffer.from(text, 'utf8');
      for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at);
      sinceCompaction += changes.length;
      if (sinceCompaction >= compactEvery) compact(rowsNow(), changes[changes.length - 1]!.id);
    },
    async close() {
      await compacting.catch(() => undefined);
      closeSync(fd);
    },
  };
}
