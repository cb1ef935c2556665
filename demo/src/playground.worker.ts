// The playground's worker: serveRuntime with the pipeline the page picked
// (its configuration is this worker's URL query). Wiring only.
import { serveRuntime } from 'tidemark/worker';
import { type Click, databaseName, parseConfig, pipelineFor } from './pipeline.js';

const config = parseConfig(new URLSearchParams(self.location.search));

serveRuntime<Click>({
  // One database per pipeline: a new pipeline starts from a fresh state and client id.
  name: databaseName(config),
  pipeline: pipelineFor(config),
  checkpoint: { everyEvents: 2_000, everyMs: 2_000 },
  // Short waits, so that reconnecting and corrections show within seconds.
  upload: { minBackoffMs: 250, maxBackoffMs: 3_000, correctionsEveryMs: 1_500 },
});
