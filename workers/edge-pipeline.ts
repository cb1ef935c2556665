/**
 * The edge example's pipeline: page views per page in 60 s tumbling
 * windows. A module of its own, so that the same function runs at the edge
 * (`workers/edge.ts`), in the browser worker and in `tidemark reconcile
 * --pipeline workers/edge-pipeline.ts`.
 */
import type { Observable } from 'rxjs';
import { count, eventTime, tumbling, windowBy } from '../src/index.js';

/** One page view, as clients send it (`data` of a wire event). */
export interface PageView {
  readonly page: string;
  readonly ts: number;
}

export const pipeline = (events$: Observable<PageView>) =>
  events$.pipe(
    eventTime({ timestamp: (e: PageView) => e.ts, maxOutOfOrderness: 2_000 }),
    windowBy({ key: (e) => e.page, window: tumbling(60_000), aggregate: count() }),
  );
