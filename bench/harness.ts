/**
 * Timing and heap helpers for the benchmarks. Figures are medians over
 * alternating rounds, so that a GC pause, a JIT tier-up or CPU frequency
 * drift hits every contender in a round instead of biasing one of them.
 *
 * @module
 */

/** One contender of a comparison: runs the whole workload once. */
export interface Contender {
  readonly name: string;
  readonly run: () => void;
  /**
   * Untimed, after each timed run. A contender that leaves hundreds of MB
   * of garbage collects it here, rather than in the next contender's run.
   */
  readonly after?: () => void;
}

/** Per-contender samples, in seconds. */
export type Samples = Map<string, number[]>;

/**
 * Collects garbage when the process was started with `--expose-gc`. Used
 * between comparisons, not between timed runs: a forced full collection
 * also shrinks the young generation, and the run after it then pays ~15%
 * for extra scavenges while it grows back. Alternation is what spreads the
 * cost of one contender's garbage fairly over the others.
 */
export function collectGarbage(): void {
  globalThis.gc?.();
  globalThis.gc?.();
}

function time(run: () => void): number {
  const start = performance.now();
  run();
  return (performance.now() - start) / 1_000;
}

/**
 * Runs every contender `warmup` times, then `rounds` times each, in
 * alternating order (A B C, C B A, A B C, …) so that none always runs right
 * after the same other one, whose garbage it may end up collecting.
 */
export function alternate(contenders: readonly Contender[], rounds: number, warmup = 1): Samples {
  collectGarbage();
  for (let i = 0; i < warmup; i++) for (const c of contenders) c.run();
  const samples: Samples = new Map(contenders.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order) {
      samples.get(c.name)?.push(time(c.run));
      c.after?.();
    }
  }
  return samples;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Median throughput of one contender, in events per second. */
export function eventsPerSecond(samples: Samples, name: string, events: number): number {
  const s = samples.get(name);
  if (!s || s.length === 0) throw new Error(`no samples for ${name}`);
  return events / median(s);
}

/**
 * Heap bytes retained by what `build` returns, measured as the change in
 * `heapUsed` between two full collections; `dispose` then releases it (and,
 * being called after the measurement, keeps it reachable until then). Needs
 * `--expose-gc`: without it the figure would include garbage, so it returns
 * `undefined`.
 */
export function retainedBytes<T>(build: () => T, dispose: (built: T) => void): number | undefined {
  if (typeof globalThis.gc !== 'function') return undefined;
  collectGarbage();
  const before = process.memoryUsage().heapUsed;
  const built = build();
  collectGarbage();
  const after = process.memoryUsage().heapUsed;
  dispose(built);
  return after - before;
}

/** `12_345_678` → `12.3 M`. */
export function formatRate(perSecond: number): string {
  return perSecond >= 1e6 ? `${(perSecond / 1e6).toFixed(1)} M` : `${(perSecond / 1e3).toFixed(0)} k`;
}

/** Two decimals, three for ratios below 0.1 so that a naive pipeline's does not round to 0.01×. */
export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(ratio < 0.1 ? 3 : 2)}×`;
}

/** Peak resident set size over a stretch of a run: see {@link rssSampler}. */
export interface RssSampler {
  /** Starts a new stretch: the peak so far is forgotten. */
  reset(): void;
  /** The highest RSS seen since the last reset, in bytes (at least the current one). */
  peak(): number;
  stop(): Promise<void>;
}

/**
 * Samples the process's RSS every `intervalMs` from a worker thread, so
 * that a run that never yields to the event loop (a long chain of
 * microtasks, as reconcile over an in-memory log) is sampled too. The peak
 * lives in shared memory; `process.resourceUsage().maxRSS` cannot be reset,
 * and would include what ran before (building the log, DuckDB in-process).
 */
export async function rssSampler(intervalMs = 10): Promise<RssSampler> {
  const { Worker } = await import('node:worker_threads');
  const shared = new BigInt64Array(new SharedArrayBuffer(8));
  const worker = new Worker(
    `const { workerData } = require('node:worker_threads');
     const peak = workerData.peak;
     setInterval(() => {
       const rss = BigInt(process.memoryUsage.rss());
       if (rss > Atomics.load(peak, 0)) Atomics.store(peak, 0, rss);
     }, workerData.intervalMs);`,
    { eval: true, workerData: { peak: shared, intervalMs } },
  );
  worker.unref();
  const current = () => BigInt(process.memoryUsage.rss());
  return {
    reset: () => Atomics.store(shared, 0, current()),
    peak: () => Number(Atomics.load(shared, 0) > current() ? Atomics.load(shared, 0) : current()),
    stop: async () => {
      await worker.terminate();
    },
  };
}
