/**
 * The corrections feed, client side: pages of `GET /v1/corrections` after a
 * cursor, merged into the latest correction per window. A part of the
 * uploader, which persists the result and reports its status.
 *
 * @internal
 * @module
 */
import type { Answer } from '../protocol/client.js';
import { type Correction, type CorrectionsResponse, PATHS } from '../protocol/wire.js';
import { windowId } from '../windows/identity.js';
import type { StoredCorrections } from './outbox-store.js';

/**
 * Reads every page after `current.cursor` through `get`: the merged
 * corrections, whether any came, and the first answer that was not a `2xx`
 * (the pages before it are kept).
 */
export async function pullCorrections(
  get: (path: string) => Promise<Answer>,
  clientId: string,
  current: StoredCorrections,
): Promise<{ corrections: StoredCorrections; changed: boolean; failed?: Answer }> {
  let corrections = current;
  let changed = false;
  for (;;) {
    const answer = await get(`${PATHS.corrections}?clientId=${clientId}&after=${corrections.cursor}`);
    if (answer.decision !== 'delivered') return { corrections, changed, failed: answer };
    const page = answer.body as CorrectionsResponse;
    if (page.corrections.length === 0) return { corrections, changed };
    corrections = { cursor: page.cursor, entries: mergeCorrections(corrections.entries, page.corrections) };
    changed = true;
  }
}

/** The latest correction per window, in cursor order. */
export function mergeCorrections(old: readonly Correction[], fresh: readonly Correction[]): Correction[] {
  const byWindow = new Map<string, Correction>();
  for (const c of old) byWindow.set(windowId(c), c);
  for (const c of fresh) {
    const id = windowId(c);
    byWindow.delete(id);
    byWindow.set(id, c);
  }
  return [...byWindow.values()];
}
