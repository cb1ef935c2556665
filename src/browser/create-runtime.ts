/**
 * `createRuntime`: the page side of the browser runtime. `emit()` only
 * pushes into an array; batches cross to the worker (one message per batch,
 * never per event) and stay in page memory until the worker answers that
 * they are durable, so a worker that dies loses nothing: the runtime starts
 * a new one and re-sends them (batch ids make the re-send idempotent).
 * This file validates the options and gives the page client
 * (`page-client.ts`) a Web Worker to talk to (`worker-link.ts`).
 *
 * @module
 */
import { startPageClient } from './page-client.js';
import { resolveRuntimeOptions, type RuntimeOptions } from './runtime-options.js';
import type { Runtime } from './runtime.js';
import { WorkerLink } from './worker-link.js';

/**
 * Starts the browser runtime: a Web Worker serving `serveRuntime` (from
 * `tidemark/worker`) with a durable IndexedDB outbox and exactly-once
 * checkpoints. Resolves once the worker has opened its storage.
 *
 * @param options - the worker factory and time limits; validated now
 * @throws `InvalidOptionError` (from `tidemark`) for invalid options
 * @throws `WorkerError` (from `tidemark`) if the worker fails to load (the message says why)
 * @throws `TimeoutError` (from `tidemark`) if the worker or its storage does not start in time
 * @example
 * ```ts
 * import { createRuntime } from 'tidemark/browser';
 * import type { WindowResult } from 'tidemark';
 * const rt = await createRuntime<{ page: string; ts: number }, WindowResult<string, number>>({
 *   worker: () => new Worker(new URL('./analytics.worker.js', import.meta.url), { type: 'module' }),
 * });
 * rt.results$.subscribe((r) => console.log(r.key, r.start, r.value, r.timing));
 * rt.emit({ page: '/home', ts: Date.now() });
 * await rt.drain(); // durable and processed
 * console.log(await rt.view());
 * await rt.close();
 * ```
 */
export async function createRuntime<E = unknown, R = unknown>(options: RuntimeOptions): Promise<Runtime<E, R>> {
  const settings = resolveRuntimeOptions(options);
  return startPageClient<E, R>(settings, (onIssue, onMessage) => new WorkerLink(options.worker, onIssue, onMessage, settings.clock));
}
