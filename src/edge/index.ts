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
export { createEdge } from './create-edge.js';
export { partitionOf } from '../protocol/partition.js';
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
export type { Checkpoint, CheckpointStore, EventStore } from '../checkpoint/storage.js';
