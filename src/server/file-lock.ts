/// <reference types="node" />
/**
 * One writer per log directory, and one batch run per data directory: a
 * `LOCK` file created exclusively, holding the owner's pid and host name.
 * A lock whose process is gone (killed with SIGKILL, or the machine
 * restarted) is taken over.
 *
 * @internal
 * @module
 */
import { hostname } from 'node:os';
import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BatchRunningError, StorageError } from '../errors.js';

export const LOCK_FILE = 'LOCK';

/** A held lock. */
export interface DirLock {
  readonly path: string;
  /** Removes the lock file if it is still ours. */
  release(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readOwner(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * Takes the lock of `dir` or throws a {@link StorageError} saying who holds
 * it. Without `flock` in Node, taking over a stale lock is not atomic: two
 * processes that both find the same stale lock at the same instant could
 * both proceed. Each re-reads the lock just before removing it, which
 * leaves a window of microseconds, during a restart after a crash.
 */
export async function lockDir(dir: string, kind: 'log' | 'batch' = 'log'): Promise<DirLock> {
  if (kind === 'batch') await mkdir(dir, { recursive: true });
  const path = join(dir, LOCK_FILE);
  const host = hostname();
  const mine = `${process.pid} ${host}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      const fh = await open(path, 'wx');
      try {
        await fh.writeFile(mine);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return {
        path,
        async release() {
          if ((await readOwner(path)) === mine) await unlink(path);
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const text = await readOwner(path);
    if (text === undefined) continue; // released meanwhile
    const m = /^(\d+) (.*)\n?$/.exec(text);
    const pid = m ? Number(m[1]) : undefined;
    const owner = m?.[2];
    if (pid !== undefined && (owner !== host || pid === process.pid || alive(pid))) throw held(kind, dir, path, pid, owner ?? host);
    if (attempt > 0) throw new StorageError(`another process took the lock of ${dir} (${path}) while this one was taking it`);
    // A dead owner, or a lock file left empty by a crash while it was
    // being written: stale. Remove it unless it changed since it was read.
    if ((await readOwner(path)) === text) await unlink(path).catch(() => undefined);
  }
}

/** The lock of `dir` is held by `pid` on `owner`: say who, and what to do. */
function held(kind: 'log' | 'batch', dir: string, path: string, pid: number, owner: string): StorageError {
  const here = hostname();
  if (kind === 'batch') {
    const who = pid === process.pid && owner === here ? 'this process' : owner === here ? `process ${pid}` : `process ${pid} on host ${owner}`;
    return new BatchRunningError(
      `a batch run over ${dirname(dir)} is under way in ${who} (see ${path}): two batch runs never overlap. Wait for ` +
        'it to end (or POST /v1/reconcile to the server that runs it). If that process is gone, delete the LOCK file.',
    );
  }
  if (pid === process.pid && owner === here)
    return new StorageError(
      `the log in ${dir} is already open in this process: close() the other fileLog of this directory first, ` +
        'or share that one.',
    );
  if (owner !== here)
    return new StorageError(
      `the log in ${dir} is locked by process ${pid} on host ${owner} (see ${path}); two processes must not ` +
        'write one log. If that process is gone, delete the LOCK file and open the log again.',
    );
  return new StorageError(
    `the log in ${dir} is open in process ${pid} (see ${path}); two processes must not write one log. ` +
      'Read it beside that process with readFileLog (tidemark export and reconcile do). ' +
      `If ${pid} is not a Tidemark server (its pid was reused), delete the LOCK file.`,
  );
}
