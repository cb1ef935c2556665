/**
 * Tidemark's browser runtime, page side: {@link createRuntime} starts a Web
 * Worker that serves `serveRuntime` (from `tidemark/worker`), with a durable
 * IndexedDB outbox and exactly-once checkpoints. Exported as
 * `tidemark/browser`.
 *
 * @module tidemark/browser
 */
export type { RuntimeOptions } from './runtime-options.js';
export type { DrainReceipt, PageStatus, PageStorageStatus, PersistOutcome, Runtime } from './runtime.js';
export { createRuntime } from './create-runtime.js';
export type { CheckpointInfo, Columns, RuntimeIssue, RuntimeStatus, StorageStatus, ViewEntry } from '../worker/contract.js';
export type { GlobalViewOptions, GlobalViewUpdate } from './global-view.js';
export { globalView } from './global-view.js';
export type { ViewChange, ViewRow } from '../protocol/wire.js';
