/**
 * The runtime's reference worker: page views per page in 60 s tumbling
 * windows, exactly as in the README. Copy it as the start of your own
 * worker module; the page starts it with
 * `createRuntime({ worker: () => new Worker(new URL('./analytics.worker.ts', import.meta.url), { type: 'module' }) })`.
 */
import { count, eventTime, tumbling, windowBy } from '../src/index.js';
import { serveRuntime } from '../src/worker/index.js';

serveRuntime({
  name: 'analytics',
  pipeline: (events$) =>
    events$.pipe(
      eventTime({ timestamp: (e: { page: string; ts: number }) => e.ts, maxOutOfOrderness: 2_000 }),
      windowBy({ key: (e) => e.page, window: tumbling(60_000), aggregate: count() }),
    ),
});
