/**
 * Browser side of the Nexmark benchmark: a module Web Worker that receives
 * the options, runs the same measurement as Node, and posts back progress
 * lines (`{ log }`) and then the figures (`{ result }`) or the failure
 * (`{ error }`). Bundled with esbuild by `nexmark.bench.ts`.
 *
 * @module
 */
import { type MeasureOptions, measure } from './measure.js';

/** The parts of a dedicated worker's global scope used here (tsconfig has no WebWorker lib). */
const scope = globalThis as unknown as {
  onmessage: ((event: { data: MeasureOptions }) => void) | null;
  postMessage(message: unknown): void;
};

scope.onmessage = ({ data }) => {
  try {
    const result = measure(data, (log) => scope.postMessage({ log }));
    scope.postMessage({ result });
  } catch (err) {
    scope.postMessage({ error: err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err) });
  }
};
