/**
 * The IndexedDB checkpoint: the pipeline snapshot, the view and the
 * sequence they cover, written in one transaction, and fenced by the
 * leadership epoch so that a worker that lost leadership (and does not know
 * it yet) can never overwrite its successor's checkpoint.
 *
 * @module
 */
import { LeadershipLost } from '../../errors.js';
import type { StoredCheckpoint } from '../outbox-store.js';
import type { Connection } from './connection.js';

/** The epoch-fenced checkpoint of the runtime database. */
export interface IdbCheckpoints {
  /** Takes the next epoch; checkpoints carrying an older one are refused from now on. */
  claimEpoch(): Promise<number>;
  load(): Promise<StoredCheckpoint | undefined>;
  /** Writes `checkpoint` if `epoch` is still current, else rejects with {@link LeadershipLost}. */
  write(checkpoint: StoredCheckpoint, epoch: number): Promise<void>;
}

/** The checkpoint of the runtime database `connection`. */
export function idbCheckpoints({ withDb, identity }: Connection): IdbCheckpoints {
  return {
    claimEpoch: () =>
      withDb('claim leadership', async (database) => {
        const tx = database.transaction('checkpoint', 'readwrite');
        const epoch = (((await tx.store.get('epoch')) as number | undefined) ?? 0) + 1;
        await tx.store.put(epoch, 'epoch');
        await tx.done;
        // Kept, so that a database recreated under this worker gets it back (see the upgrade).
        identity.epoch = epoch;
        return epoch;
      }),
    load: () =>
      withDb('load the checkpoint', async (database) => (await database.get('checkpoint', 'latest')) as StoredCheckpoint | undefined),
    write: (checkpoint, epoch) =>
      withDb('write a checkpoint', async (database) => {
        // Snapshot, view and covered position commit together, or not at all.
        // The checkpoint store only: an append in flight never waits for it.
        const tx = database.transaction('checkpoint', 'readwrite');
        const current = (await tx.store.get('epoch')) as number | undefined;
        if (current !== epoch) {
          tx.abort();
          await tx.done.catch(() => undefined);
          throw new LeadershipLost(`epoch ${epoch} was superseded by ${current}`);
        }
        void tx.store.put(checkpoint, 'latest');
        void tx.store.put(checkpoint.seq, 'covered');
        await tx.done;
      }),
  };
}
