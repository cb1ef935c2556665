/**
 * `openRuntimeStore`: the runtime's {@link RuntimeStore} over IndexedDB,
 * composed of the outbox, the epoch-fenced checkpoint and the sync store,
 * all in one database (see `connection.ts`), so that a checkpoint and its
 * outbox position commit in one transaction.
 *
 * @module
 */
import { type Clock, systemClock } from '../../time/clock.js';
import type { RuntimeStore } from '../outbox-store.js';
import { idbCheckpoints } from './checkpoints.js';
import { type ConnectionOptions, openConnection } from './connection.js';
import { idbOutbox } from './outbox.js';
import { idbSync } from './sync.js';

/**
 * Opens (or creates) the runtime database `name`. `open()` is raced against
 * `openTimeoutMs` (on `clock`): a database blocked by another connection or
 * a stalled upgrade must not leave the runtime waiting forever.
 */
export async function openRuntimeStore(
  name: string,
  openTimeoutMs: number,
  clock: Clock = systemClock,
  options: Omit<ConnectionOptions, 'openTimeoutMs' | 'clock'> = {},
): Promise<RuntimeStore> {
  const connection = await openConnection(name, { ...options, openTimeoutMs, clock });
  const outbox = idbOutbox(connection);
  const checkpoints = idbCheckpoints(connection);
  return {
    clientId: connection.identity.clientId,
    openedAt: connection.openedAt,
    append: outbox.append,
    readAfter: outbox.readAfter,
    readHolding: outbox.readHolding,
    lastSeq: outbox.lastSeq,
    totals: outbox.totals,
    othersAppended: outbox.othersAppended,
    claimEpoch: checkpoints.claimEpoch,
    loadCheckpoint: checkpoints.load,
    async writeCheckpoint(checkpoint, epoch, limits, now) {
      await checkpoints.write(checkpoint, epoch);
      // Retention runs after a checkpoint: what it covers may now be deleted.
      await outbox.pruneNowAndThen(limits, now);
    },
    ...idbSync(connection),
    health: connection.health,
    close: connection.close,
  };
}
