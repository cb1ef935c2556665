/**
 * Tidemark's browser runtime, worker side: {@link serveRuntime} runs your
 * pipeline in a module Web Worker over a durable IndexedDB outbox, with
 * exactly-once checkpoints and one leader across tabs. Exported as
 * `tidemark/worker`.
 *
 * @module tidemark/worker
 */
export type { Columns } from './contract.js';
export type { OutboxOptions, ServeRuntimeOptions } from './runtime-options.js';
export { serveRuntime } from './serve-runtime.js';
