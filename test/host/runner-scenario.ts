// The Runner conformance scenario: runs in any environment (Node, a browser
// page, a Durable Object), so it imports no test framework and no Node API.
// A seeded plan of appends and crashes is played against a harness over one
// store; the answer is compared, in Node, with an uninterrupted run.
import type { Observable } from 'rxjs';
import { createPipeline } from '../../src/checkpoint/pipeline.js';
import { Runner } from '../../src/host/runner.js';
import type { RunnerStore } from '../../src/host/store.js';
import { count, eventTime, tumbling, windowBy } from '../../src/index.js';
import { seededRandom } from '../../src/testing/index.js';
import { compareWindows } from '../../src/windows/identity.js';

/** One event of the scenario. */
export interface Ev {
  readonly k: string;
  readonly ts: number;
}

/** What the scenario needs from a store under test. */
export interface RunnerHarness {
  /** Stores `events` as one batch (durable when it resolves); answers the last sequence stored. */
  append(events: readonly Ev[]): Promise<number>;
  /** The store as a freshly started host sees it, with the epoch it claimed (0 for a store with one writer by construction). */
  open(): Promise<{ store: RunnerStore; epoch: number }>;
  /** `true` when the store fences writers by epoch (a crashed writer may live on as a zombie). */
  readonly fenced: boolean;
  /** How the host stores its view (the edge's JSON storage takes entries). */
  readonly viewEncoding?: 'columns' | 'entries';
}

/** How a crash happens. */
export type CrashMode =
  /** Everything offered was processed, then the host vanished without a final checkpoint. */
  | 'idle'
  /** A batch was offered and the host vanished while processing it (a checkpoint write may be in flight). */
  | 'in-flight'
  /** The host lost its leadership but lives on: it keeps processing and writing, fenced off by the new epoch. */
  | 'zombie';

export interface Plan {
  readonly batches: readonly (readonly Ev[])[];
  /** Crash after appending batch `after` (index into `batches`). */
  readonly crashes: readonly { readonly after: number; readonly mode: CrashMode }[];
  readonly checkpointEvery: number;
}

/** The scenario's answer: the view at the end, and after one more restart from the last checkpoint. */
export interface Outcome {
  readonly view: unknown[];
  readonly restored: unknown[];
  /** Checkpoint writes the store refused to zombies (only with a fenced store). */
  readonly fencedOff: number;
}

export const pipelineFn = (events$: Observable<Ev>) =>
  events$.pipe(
    eventTime({ timestamp: (e: Ev) => e.ts, maxOutOfOrderness: 50 }),
    windowBy({ key: (e) => e.k, window: tumbling(100), aggregate: count(), allowedLateness: 100, early: { count: 7 } }),
  );

/** A seeded plan: ~1 500 events in batches of 1–40, out of order within the bound and some late, and `crashes` crashes. */
export function makePlan(seed: number, crashes = 8, modes: readonly CrashMode[] = ['idle', 'in-flight', 'zombie']): Plan {
  const rand = seededRandom(seed);
  const batches: Ev[][] = [];
  let ts = 0;
  for (let n = 0; n < 1_500; ) {
    const size = 1 + Math.floor(rand() * 40);
    const batch: Ev[] = [];
    for (let i = 0; i < size; i++, n++) {
      ts += Math.floor(rand() * 5);
      const late = rand() < 0.03 ? 150 : 0;
      batch.push({ k: `k${Math.floor(rand() * 4)}`, ts: Math.max(0, ts - Math.floor(rand() * 50) - late) });
    }
    batches.push(batch);
  }
  const at = new Set<number>();
  while (at.size < crashes) at.add(Math.floor(rand() * (batches.length - 1)));
  return {
    batches,
    crashes: [...at].sort((a, b) => a - b).map((after) => ({ after, mode: modes[Math.floor(rand() * modes.length)]! })),
    checkpointEvery: 10 + Math.floor(rand() * 90),
  };
}

const sorted = (entries: unknown[]) => [...(entries as { key: string; start: number; end: number }[])].sort(compareWindows);

/** Plays `plan` against `harness`. */
export async function runScenario(harness: RunnerHarness, plan: Plan): Promise<Outcome> {
  const pipeline = createPipeline(pipelineFn) as never;
  let fencedOff = 0;
  const start = async () => {
    const { store, epoch } = await harness.open();
    const runner = new Runner({
      store,
      pipeline,
      epoch,
      checkpoint: { everyEvents: plan.checkpointEvery, everyMs: Number.POSITIVE_INFINITY },
      view: { encoding: harness.viewEncoding ?? 'columns' },
      hooks: {
        error: (e) => {
          if ((e as Error)?.name === 'LeadershipLost') fencedOff++;
          else throw e;
        },
      },
    });
    await runner.start();
    return { runner };
  };
  let { runner } = await start();
  const zombies: Runner[] = [];
  const crashes = new Map(plan.crashes.map((c) => [c.after, c.mode]));
  for (let i = 0; i < plan.batches.length; i++) {
    const last = await harness.append(plan.batches[i]!);
    for (const z of zombies) z.notify(last); // a zombie keeps going until fenced off
    runner.notify(last);
    const mode = crashes.get(i);
    if (mode === undefined || (mode === 'zombie' && !harness.fenced)) {
      await runner.idle();
      continue;
    }
    if (mode === 'idle') await runner.idle();
    if (mode === 'zombie') zombies.push(runner);
    else void runner.stop(false); // the host is gone: no final checkpoint
    ({ runner } = await start());
  }
  await runner.idle();
  for (const z of zombies) await z.idle();
  const view = sorted(runner.entries());
  await runner.stop(false); // a last crash: the next start restores the last checkpoint and replays after it
  const again = await start();
  await again.runner.idle();
  const restored = sorted(again.runner.entries());
  await again.runner.stop(false);
  return { view, restored, fencedOff };
}

/** The same plan without crashes, over the memory store: what every store must give. */
export async function reference(plan: Plan, open: () => Promise<{ store: RunnerStore & { append(e: readonly Ev[]): unknown }; epoch: number }>): Promise<unknown[]> {
  const { store, epoch } = await open();
  const runner = new Runner({ store, pipeline: createPipeline(pipelineFn) as never, epoch, checkpoint: { everyEvents: plan.checkpointEvery } });
  await runner.start();
  for (const b of plan.batches) {
    store.append(b);
    runner.notify(await store.lastSeq());
    await runner.idle();
  }
  const view = sorted(runner.entries());
  await runner.stop(false);
  return view;
}
