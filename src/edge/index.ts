/**
 * `tidemark/edge`: the same pipelines in an edge function (workerd, e.g.
 * Cloudflare Workers), one Durable Object per partition with exactly-once
 * checkpoints in its storage, forwarding to a Tidemark server. See
 * {@link createEdge}; `npx tidemark build-edge` bundles a worker from a
 * pipeline module.
 *
 * @module
 */
export type { DurableObjectNamespaceLike, Edge, EdgeOptions, EdgeResults } from './create-edge.js';
export { createEdge, partitionOf } from './create-edge.js';
export type { DurableObjectStateLike, EdgeEnv, PartitionObject } from './edge-partition.js';
export type { PartitionResults } from './partition.js';
export type {
  DurableObjectStorageLike,
  DurableObjectTransactionLike,
  EdgeBatch,
  EdgeCheckpoint,
  EdgeDeadLetter,
  EdgeReceipt,
  EdgeRecord,
  EdgeStore,
} from './durable-object-store.js';
export { openDurableObjectStore } from './durable-object-store.js';
export { memoryStorage } from './memory-storage.js';
// The token of a client, for an edge worker that issues tokens itself (tidemark/server's
// entry imports Node APIs; this one runs anywhere).
export { tokenFor } from '../server/auth.js';
export type { Checkpoint, CheckpointStore, EventStore } from '../checkpoint/storage.js';
