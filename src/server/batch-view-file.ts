/// <reference types="node" />
/**
 * Where the batch layer leaves its view over all clients for the serving
 * layer (`<data>/batch/global.json`), and its shape.
 *
 * @internal
 * @module
 */
import { join } from 'node:path';
import type { WindowValue } from '../windows/identity.js';

/** What `batch/global.json` holds: the last batch run's view over all clients. */
export interface StoredBatchView {
  readonly startedAt: number;
  /** The run's frontier (`null`: none final); windows starting before it are final. */
  readonly frontier: number | null;
  readonly windows: readonly WindowValue[];
}

/** The file's path in `dataDir`. */
export function batchViewFile(dataDir: string): string {
  return join(dataDir, 'batch', 'global.json');
}
