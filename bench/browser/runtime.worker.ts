// The runtime worker of the browser benchmark: serveRuntime with the
// pipeline named by `?kind=` and settings from the query, so one bundle
// serves every workload.
//
// With `?into=N` it also notes when the N-th event has reached the worker
// (not yet durable): a listener registered before comlink's sees each
// `append` call as it is dispatched, and posts `{ benchInto: epoch ms }` to
// the page. It reads comlink's wire format ({ type: 'APPLY', path:
// ['append'], argumentList: [batchId, events, columnar] }), which is an
// implementation detail: if it changes, the page reports "no into-the-worker
// time" instead of a wrong figure.
import { serveRuntime } from '../../src/worker/index.js';
import { type Ev, type EvColumns, type Kind, PIPELINES, row } from './pipelines.js';

const q = new URLSearchParams(self.location.search);
const num = (k: string, fallback: number) => (q.has(k) ? Number(q.get(k)) : fallback);
const kind = (q.get('kind') ?? 'count') as Kind;
if (!(kind in PIPELINES)) throw new Error(`bench worker: unknown kind ${kind}`);

const into = num('into', 0);
if (into > 0) {
  let received = 0;
  let posted = false;
  self.addEventListener('message', (e: MessageEvent) => {
    const d = e.data as { type?: string; path?: string[]; argumentList?: { value?: { length?: unknown } }[] } | null;
    if (posted || d?.type !== 'APPLY' || d.path?.[0] !== 'append') return;
    const length = d.argumentList?.[1]?.value?.length;
    if (typeof length === 'number') received += length;
    if (received >= into) {
      posted = true;
      self.postMessage({ benchInto: performance.timeOrigin + performance.now() });
    }
  });
}

serveRuntime<Ev, unknown, EvColumns>({
  name: q.get('name') ?? 'bench',
  pipeline: PIPELINES[kind],
  row,
  checkpoint: { everyEvents: num('everyEvents', 10_000), everyMs: num('everyMs', 1_000) },
  // Raised from the defaults (1 M events, 64 MiB): a round stores 2-4 M events,
  // and drop-oldest would otherwise delete unprocessed ones.
  outbox: { maxEvents: 100_000_000, maxBytes: 8 * 1024 ** 3, policy: 'reject' },
});
