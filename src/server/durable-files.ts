/// <reference types="node" />
/**
 * Making file changes durable: a directory's entries, and a file replaced
 * whole (temporary file, synced, renamed over it, directory synced), so a
 * crash leaves the old content or the new, never a mix.
 *
 * @internal
 * @module
 */
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Makes a directory's entries durable (a created, renamed or deleted file). */
export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/** Replaces the file at `path` with `data`, all or nothing, durably. */
export async function writeAtomically(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await syncDir(dirname(path));
}
