import { describe, expect, it } from 'vitest';
import { MemoryRunnerStore } from '../../src/host/memory-store.js';
import { map, type Observable } from 'rxjs';
import { createPipeline } from '../../src/checkpoint/pipeline.js';
import { Runner } from '../../src/host/runner.js';
import type { RunnerStore } from '../../src/host/store.js';
import { type VirtualClock, virtualClock } from '../../src/testing/index.js';
import { type Ev, makePlan, pipelineFn, reference, type RunnerHarness, runScenario } from './runner-scenario.js';

/** The memory store as a harness: one store, reopened as a restarted host would. */
function memoryHarness(): RunnerHarness & { store: MemoryRunnerStore } {
  const store = new MemoryRunnerStore();
  return {
    store,
    fenced: true,
    append: async (events) => store.append(events).last,
    open: async () => ({ store, epoch: store.claimEpoch() }),
  };
}

describe('Runner conformance: memory store (Node)', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: crashes at random points (idle, in flight, zombie) give the results of one uninterrupted run`, async () => {
      const plan = makePlan(seed);
      const want = await reference(plan, async () => {
        const store = new MemoryRunnerStore();
        return { store, epoch: store.claimEpoch() };
      });
      expect(want.length).toBeGreaterThan(20);
      const got = await runScenario(memoryHarness(), plan);
      expect(got.view).toEqual(want);
      expect(got.restored).toEqual(want);
    });
  }

  it('fences off a zombie: its checkpoint writes are refused and do not move the checkpoint', async () => {
    const plan = { ...makePlan(9, 3, ['zombie']), checkpointEvery: 5 };
    const got = await runScenario(memoryHarness(), plan);
    expect(got.fencedOff).toBeGreaterThan(0);
  });
});

describe('Runner timing (virtual time)', () => {
  const setup = (store: RunnerStore, clock: VirtualClock, errors: unknown[] = []) =>
    new Runner({
      store,
      pipeline: createPipeline(pipelineFn) as never,
      checkpoint: { everyEvents: 1_000, everyMs: 1_000 },
      clock,
      hooks: { error: (e) => errors.push(e) },
    });

  it('covers processed events with a checkpoint within everyMs on quiet input', async () => {
    const clock = virtualClock(0);
    const store = new MemoryRunnerStore();
    const runner = setup(store, clock);
    await runner.start();
    store.append([{ k: 'a', ts: 1 }]);
    runner.notify(1);
    await runner.idle();
    expect(runner.checkpointed).toBe(0);
    await clock.advance(999);
    expect(runner.checkpointed).toBe(0);
    await clock.advance(1);
    await runner.idle();
    expect(runner.checkpointed).toBe(1);
    expect(clock.pending).toBe(0); // nothing left to cover: no timer
  });

  it('retries a failed checkpoint write everyMs later, not at once in a loop', async () => {
    const clock = virtualClock(0);
    const store = new MemoryRunnerStore();
    let attempts = 0;
    const failing: RunnerStore = {
      loadCheckpoint: () => store.loadCheckpoint(),
      readAfter: (s, m) => store.readAfter(s, m),
      lastSeq: () => store.lastSeq(),
      writeCheckpoint: async (c, e) => {
        attempts++;
        if (attempts <= 3) throw new Error('disk full');
        return store.writeCheckpoint(c, e);
      },
    };
    const errors: unknown[] = [];
    const runner = setup(failing, clock, errors);
    await runner.start();
    store.append(Array.from({ length: 1_500 }, (_, i) => ({ k: 'a', ts: i })));
    runner.notify(1_500);
    await runner.idle();
    expect(attempts).toBe(1);
    await clock.advance(999);
    expect(attempts).toBe(1);
    await clock.advance(1);
    expect(attempts).toBe(2);
    await clock.advance(2_000);
    expect(attempts).toBe(4);
    await runner.idle();
    expect(runner.checkpointed).toBe(1_500);
    expect(errors.map((e) => (e as Error).message)).toEqual(['disk full', 'disk full', 'disk full']);
  });

  it('a failed pipeline stops processing where it failed; its events stay stored', async () => {
    const store = new MemoryRunnerStore();
    const errors: unknown[] = [];
    const runner = new Runner({
      store,
      pipeline: createPipeline((e$: Observable<Ev>) => pipelineFn(e$.pipe(map((e) => (e.ts > 5 ? (null as never) : e))))) as never,
      hooks: { error: (e) => errors.push(e) },
    });
    await runner.start();
    store.append([{ k: 'a', ts: 1 }]);
    store.append([{ k: 'a', ts: 9 }]);
    runner.notify(2);
    await runner.idle();
    expect(runner.processed).toBe(1);
    expect(runner.failure).toBeDefined();
    expect(errors).toHaveLength(1);
  });
});
