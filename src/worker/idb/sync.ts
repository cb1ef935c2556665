/**
 * What the uploader keeps in the runtime database: the highest sequence the
 * server acknowledged, the events it refused for good (dead letters), and
 * the corrections pulled from it with their feed position.
 *
 * `acked` and `corrections` live in the checkpoint store, never in `meta`:
 * a write to `meta` would make the next append take its slow path. `acked`
 * is read there also by the outbox's pruning, in the same transaction as
 * the covered position.
 *
 * @module
 */
import type { StoredCorrections, SyncStore } from '../outbox-store.js';
import type { Connection } from './connection.js';

/** The sync store of the runtime database `connection`. */
export function idbSync({ withDb }: Connection): SyncStore {
  return {
    acked: () =>
      withDb('read the acknowledged position', async (database) => ((await database.get('checkpoint', 'acked')) as number | undefined) ?? 0),
    ack: (seq) =>
      withDb('record an acknowledgement', async (database) => {
        const tx = database.transaction('checkpoint', 'readwrite');
        const current = ((await tx.store.get('acked')) as number | undefined) ?? 0;
        if (seq > current) void tx.store.put(seq, 'acked');
        await tx.done;
      }),
    deadLetter: (letters) =>
      withDb('store dead letters', async (database) => {
        // The letters and the acknowledged position they move commit together.
        const tx = database.transaction(['deadletter', 'checkpoint'], 'readwrite');
        for (const l of letters) void tx.objectStore('deadletter').put(l, l.seq);
        const last = letters.reduce((m, l) => Math.max(m, l.seq), 0);
        const current = ((await tx.objectStore('checkpoint').get('acked')) as number | undefined) ?? 0;
        if (last > current) void tx.objectStore('checkpoint').put(last, 'acked');
        await tx.done;
      }),
    deadLetters: () =>
      withDb('read dead letters', async (database) => {
        const tx = database.transaction('deadletter');
        const count = await tx.store.count();
        const cursor = await tx.store.openCursor(null, 'prev');
        return { count, latest: cursor?.value };
      }),
    loadCorrections: () =>
      withDb('load corrections', async (database) => (await database.get('checkpoint', 'corrections')) as StoredCorrections | undefined),
    saveCorrections: (corrections) =>
      withDb('store corrections', async (database) => {
        await database.put('checkpoint', corrections, 'corrections');
      }),
  };
}
