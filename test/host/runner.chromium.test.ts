// The Runner conformance scenario over real IndexedDB in Chromium: the
// browser worker's outbox and checkpoint store, as the Runner sees it.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryRunnerStore } from '../../src/host/memory-store.js';
import { type Chromium, launch, type Site, serve } from '../browser/chromium.js';
import { makePlan, type Outcome, type Plan, reference } from './runner-scenario.js';

let site: Site;
let context: Chromium;
beforeAll(async () => {
  site = await serve({ page: join(import.meta.dirname, 'fixtures/runner-idb.page.ts') }, { sourcemap: true });
  context = await launch();
}, 60_000);
afterAll(async () => {
  await context?.dispose();
  await site?.close();
});

describe('Runner conformance: IndexedDB store (Chromium)', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: crashes at random points (idle, in flight, zombie) give the results of one uninterrupted run`, async () => {
      const plan = makePlan(seed);
      const want = await reference(plan, async () => {
        const store = new MemoryRunnerStore();
        return { store, epoch: store.claimEpoch() };
      });
      const page = await context.newPage();
      await page.goto(site.url);
      await page.waitForFunction(() => 'runIdb' in globalThis);
      const got = await page.evaluate(
        ([p, name]) => (globalThis as unknown as { runIdb(p: Plan, n: string): Promise<Outcome> }).runIdb(p, name),
        [plan, `conformance-${seed}`] as const,
      );
      await page.close();
      expect(got.view).toEqual(want);
      expect(got.restored).toEqual(want);
    }, 60_000);
  }
});
