/**
 * The edge runtime's reference worker: the pipeline of `edge-pipeline.ts`
 * in 4 partitions (Durable Objects), forwarding to the server at
 * `env.TIDEMARK_UPSTREAM` with the secret `env.TIDEMARK_SECRET`. Bundle it
 * with `npm run build:edge -- workers/edge.ts dist-edge` (which also
 * writes a `wrangler.toml`), or give the script a pipeline module and it
 * writes this wiring for you.
 */
import { createEdge } from '../src/edge/index.js';
import { pipeline } from './edge-pipeline.js';

const edge = createEdge({ pipeline, partitions: 4 });

/** The Durable Object class: `class_name = "EdgePartition"` in wrangler.toml. */
export const EdgePartition = edge.Partition;
export default { fetch: edge.fetch };
