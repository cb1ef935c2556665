// The Runner conformance scenario inside a Durable Object under real
// workerd (miniflare): the edge partition's store, as the Runner sees it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRunnerStore } from '../../src/host/memory-store.js';
import { bundle, startWorkerd } from '../edge/workerd.js';
import { makePlan, type Outcome, reference } from './runner-scenario.js';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-runner-do-'));
let mf: Miniflare;
let url: URL;
beforeAll(async () => {
  const script = await bundle(join(import.meta.dirname, 'fixtures/runner-do.worker.ts'), join(dir, 'bundle/runner.mjs'));
  ({ mf, url } = await startWorkerd({ script, persist: join(dir, 'persist'), durableObjects: { RUNNER: 'RunnerObject' } }));
}, 60_000);
afterAll(async () => {
  await mf?.dispose().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

describe('Runner conformance: Durable Object storage (workerd)', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: crashes at random points (idle, in flight) give the results of one uninterrupted run`, async () => {
      const plan = makePlan(seed, 8, ['idle', 'in-flight']);
      const want = await reference(plan, async () => {
        const store = new MemoryRunnerStore();
        return { store, epoch: store.claimEpoch() };
      });
      const res = await fetch(new URL(`/?name=seed-${seed}`, url), { method: 'POST', body: JSON.stringify(plan) });
      const got = (await res.json()) as Outcome & { error?: string };
      expect(got.error).toBeUndefined();
      expect(got.view).toEqual(want);
      expect(got.restored).toEqual(want);
    }, 60_000);
  }
});
