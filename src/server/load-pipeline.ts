/// <reference types="node" />
/**
 * `loadPipeline`: the CLI's way to get the clients' pipeline function from
 * a module file.
 *
 * @module
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, InvalidOptionError } from '../errors.js';
import type { BatchPipeline } from './reconcile.js';

/**
 * Imports the module at `path` (relative to the working directory, or
 * absolute) and answers its pipeline: the export named `pipeline`, else the
 * default export. Share one module between the worker and the server so
 * that both run the same function: `workers/analytics.worker.ts` would
 * import it and pass it to `serveRuntime`. A `.ts` module needs a loader
 * such as `tsx` (`node --import tsx`); plain Node imports `.js` and `.mjs`.
 *
 * @param path - the module's file path
 * @throws {@link InvalidOptionError} when the module cannot be imported,
 *   exports no `pipeline` nor default, or exports something else than a function
 * @example
 * ```ts
 * import { loadPipeline, reconcile, memoryLog, memoryResults, memoryCorrections } from 'tidemark/server';
 * // pipeline.ts: export const pipeline = (events$) => events$.pipe(eventTime(...), windowBy(...));
 * const pipeline = await loadPipeline('./pipeline.ts');
 * await reconcile({ log: memoryLog(), pipeline, results: memoryResults(), corrections: memoryCorrections() });
 * ```
 */
export async function loadPipeline(path: string): Promise<BatchPipeline> {
  return (await loadPipelineModule(path)).pipeline;
}

/**
 * {@link loadPipeline}, and the module's `merge` export when it has one: how
 * `tidemark serve --nats --partitions N` combines one window's values from
 * several partitions (the aggregate's merge, e.g. `(a, b) => a + b` for
 * `count()`).
 *
 * @internal
 */
export async function loadPipelineModule(path: string): Promise<{ pipeline: BatchPipeline; merge?: (a: never, b: never) => unknown }> {
  if (typeof path !== 'string' || path.length === 0)
    throw new InvalidOptionError('pipeline', `expected the path of a module file, got ${describe(path)}`);
  const file = resolve(path);
  let mod: { pipeline?: unknown; default?: unknown; merge?: unknown };
  try {
    mod = (await import(pathToFileURL(file).href)) as typeof mod;
  } catch (e) {
    const code = (e as { code?: string }).code;
    const hint =
      code === 'ERR_MODULE_NOT_FOUND' && !(e as Error).message.includes(file)
        ? `one of its imports is missing (${(e as Error).message})`
        : code === 'ERR_MODULE_NOT_FOUND'
          ? 'no such file'
          : code === 'ERR_UNKNOWN_FILE_EXTENSION'
            ? 'run Node with a TypeScript loader (node --import tsx) or compile the module to .js'
            : /Cannot use import statement outside a module/.test((e as Error).message)
              ? 'it is an ES module in a CommonJS package: add "type": "module" to the package.json (npm pkg set type=module) or name it .mjs'
              : (e as Error).message;
    throw new InvalidOptionError('pipeline', `cannot import ${file}: ${hint}`);
  }
  const pipeline = mod.pipeline ?? mod.default;
  if (pipeline === undefined)
    throw new InvalidOptionError(
      'pipeline',
      `${file} exports no pipeline; add export const pipeline = (events$) => events$.pipe(eventTime(...), windowBy(...))`,
    );
  if (typeof pipeline !== 'function')
    throw new InvalidOptionError(
      'pipeline',
      `${file} exports ${describe(pipeline)} as its pipeline; export a function (events$) => events$.pipe(...)`,
    );
  if (mod.merge !== undefined && typeof mod.merge !== 'function')
    throw new InvalidOptionError('pipeline', `${file} exports ${describe(mod.merge)} as merge; export a function (a, b) => combined value`);
  return {
    pipeline: pipeline as BatchPipeline,
    ...(typeof mod.merge === 'function' ? { merge: mod.merge as (a: never, b: never) => unknown } : {}),
  };
}
