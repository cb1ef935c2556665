// The browser runtime's hard cases: two tabs and a leader that goes away, and
// outbox limits and policies, in all three engines; in Chromium also columns,
// malformed events, a worker that fails, a stalled IndexedDB open, calls
// after close(), a real quota (DevTools) and site data cleared (DevTools);
// in Firefox also a real quota (a small fixed limit in its profile).
import { describe, expect, it } from 'vitest';
import { count, tumbling, type WindowResult } from '../../src/index.js';
import { batchWindows, latestPanes } from '../../src/testing/index.js';
import type { Tm } from './fixtures/page.js';
import { type Click, clicks } from './fixtures/scenario.js';
import { ENGINES, type EnginePage } from './engines.js';
import { openPage, openTab, useChromium, useEngine } from './setup.js';

declare const tm: Tm;

const chromium = useChromium();

const line = (w: { key: unknown; start: number; end: number; value: unknown }) => `${w.key}[${w.start},${w.end})=${w.value}`;
/** key[start,end)=value of the latest pane of each window in a view. */
const totals = (view: readonly WindowResult<string | number, unknown>[]) => latestPanes(view).map(line);
/** The same for a batch count over `events`. */
const batchTotals = (events: Click[]) =>
  batchWindows(events, { timestamp: (e) => e.ts, key: (e) => e.page, window: tumbling(100), aggregate: count() }).map(line);

/** Polls `status$` until `done` holds (or 5 s pass), for states drain() cannot wait for. */
async function statusWhen(page: Pick<EnginePage, 'evaluate'>, done: (s: Awaited<ReturnType<Tm['status']>>) => boolean) {
  let status = await page.evaluate(() => tm.status());
  for (let i = 0; i < 100 && !done(status); i++) {
    await new Promise((r) => setTimeout(r, 50));
    status = await page.evaluate(() => tm.status());
  }
  return status;
}

describe.each(ENGINES)('browser runtime: tabs and outbox limits (%s)', (name) => {
  const browser = useEngine(name);

  it('two tabs share one outbox and one pipeline; closing the leader tab loses and doubles nothing', async () => {
    const a = await openTab(browser.engine, browser.site);
    const b = await openTab(browser.engine, browser.site);
    await a.evaluate(() => tm.start('name=tabs&kind=totals&everyEvents=800&everyMs=10'));
    await b.evaluate(() => tm.start('name=tabs&kind=totals&everyEvents=800&everyMs=10'));
    expect((await a.evaluate(() => tm.status())).leader).toBe(true);
    expect((await b.evaluate(() => tm.status())).leader).toBe(false);
    // Both tabs emit at once; A makes its events durable, then its tab closes while B goes on.
    // B's emission is started, not awaited, in its page: WebDriver classic (WebKit here)
    // runs one script at a time, and would otherwise run B's emission before A's.
    await b.evaluate(() => {
      (globalThis as { emitting?: Promise<void> }).emitting = tm.emit(12, 8_000, 0, 200);
    });
    await a.evaluate(() => tm.emit(11, 6_000, 0, 200));
    await a.evaluate(() => tm.drain());
    // B follows: the results A's pipeline fires reach B's page through the channel.
    await b.waitFor(() => tm.results.length > 0);
    await a.close();
    await b.evaluate(() => (globalThis as { emitting?: Promise<void> }).emitting);
    await b.evaluate(() => tm.emit(12, 4_000, 8_000, 200));
    // One far-future event fires every window.
    await b.evaluate(() => tm.emitOne({ page: '/p0', user: 0, ts: 1e9 }));
    await b.evaluate(() => tm.drain());
    const status = await b.evaluate(() => tm.status());
    expect(status.leader).toBe(true);
    expect(status.appended).toBe(6_000 + 12_000 + 1);
    const all = [...clicks(11, 6_000), ...clicks(12, 8_000), ...clicks(12, 4_000, 8_000)];
    const expected = batchTotals(all).filter((w) => !w.includes('[1000000000'));
    const view = totals(await b.evaluate(() => tm.view())).filter((w) => !w.includes('[1000000000'));
    expect(view).toEqual(expected);
    await b.evaluate(() => tm.close());
    await b.close();
  }, 60_000);

  it("policy 'reject' refuses what does not fit and keeps the rest", async () => {
    const page = await openTab(browser.engine, browser.site);
    await page.evaluate(() => tm.start('name=reject&maxEvents=1000&policy=reject&everyEvents=1000000&everyMs=1000000'));
    await page.evaluate(() => tm.emit(3, 800, 0, 800));
    await page.evaluate(() => tm.drain());
    await page.evaluate(() => tm.emit(3, 500, 800, 500));
    const outcome = await page.evaluate(() => tm.attempt(() => tm.drain()));
    expect(outcome).toMatch(
      /^OutboxFullError: 500 of the events emitted before drain\(\) were refused: the outbox is full .*'reject'/,
    );
    const status = await page.evaluate(() => tm.status());
    expect(status).toMatchObject({ appended: 800, refused: 500, dropped: 0 });
    expect(status.outbox.events).toBe(800);
    expect(status.errors.map((e) => e.name)).toContain('OutboxFullError');
    await page.evaluate(() => tm.close());
    await page.close();
  });

  it("policy 'drop-oldest' makes room by dropping the oldest events, checkpointed ones first", async () => {
    const page = await openTab(browser.engine, browser.site);
    await page.evaluate(() => tm.start('name=drop&maxEvents=1000&policy=drop-oldest&everyEvents=1000000&everyMs=1000000'));
    await page.evaluate(() => tm.emit(4, 600, 0, 300));
    await page.evaluate(() => tm.drain());
    await page.evaluate(() => tm.checkpoint()); // covers the first 600
    await page.evaluate(() => tm.emit(4, 300, 600, 300));
    await page.evaluate(() => tm.drain());
    await page.evaluate(() => tm.emit(4, 400, 900, 400));
    await page.evaluate(() => tm.drain());
    const status = await page.evaluate(() => tm.status());
    // 1 300 events need 300 freed: the oldest checkpointed record (300) goes, nothing unprocessed.
    expect(status).toMatchObject({ appended: 1300, expired: 300, dropped: 0, refused: 0 });
    expect(status.outbox.events).toBe(1000);
    await page.evaluate(() => tm.emit(4, 800, 1300, 800));
    await page.evaluate(() => tm.drain());
    const after = await page.evaluate(() => tm.status());
    // 800 more need 800 freed: the other checkpointed record (300), then the
    // oldest records no checkpoint covers (300 and 400), which count as dropped.
    expect(after).toMatchObject({ appended: 2100, expired: 600, dropped: 700, refused: 0 });
    expect(after.outbox.events).toBe(800);
    await page.evaluate(() => tm.close());
    await page.close();
  });
});

describe('browser runtime edge cases (Chromium)', () => {
  it('takes columnar batches and gives the same view as objects', async () => {
    const page = await openPage(chromium.context, chromium.site);
    await page.evaluate(() => tm.start('name=columns'));
    await page.evaluate(() => tm.emitColumns(5, 10_000));
    await page.evaluate(() => tm.drain());
    const columns = totals(await page.evaluate(() => tm.view()));
    await page.evaluate(() => tm.close());
    await page.evaluate(() => tm.start('name=objects'));
    await page.evaluate(() => tm.emit(5, 10_000));
    await page.evaluate(() => tm.drain());
    expect(columns).toEqual(totals(await page.evaluate(() => tm.view())));
    expect(columns.length).toBeGreaterThan(100);
    await page.evaluate(() => tm.close());
    await page.close();
  });

  it('refuses exactly the events that cannot be cloned and stores the others (structured clone)', async () => {
    const page = await openPage(chromium.context, chromium.site);
    await page.evaluate(() => tm.start('name=clone', { encoding: 'structured-clone' }));
    const outcome = await page.evaluate(async () => {
      for (let i = 0; i < 3; i++) tm.emitOne({ page: '/a', user: 1, ts: i });
      tm.emitOne({ page: '/a', user: 1, ts: 3, callback: () => 1 });
      for (let i = 4; i < 7; i++) tm.emitOne({ page: '/a', user: 1, ts: i });
      return tm.attempt(() => tm.drain());
    });
    expect(outcome).toMatch(/^InvalidRecordError: 1 of the events emitted before drain\(\) were refused: .*not structured-cloneable/);
    const status = await page.evaluate(() => tm.status());
    expect(status.appended).toBe(6);
    await page.evaluate(() => tm.emitOne({ page: '/a', user: 1, ts: 1_000 }));
    await page.evaluate(() => tm.drain());
    expect(totals(await page.evaluate(() => tm.view()))).toEqual(['/a[0,100)=6']);
    await page.evaluate(() => tm.close());
    await page.close();
  });

  it('refuses exactly the events JSON cannot write and stores the others (JSON, the default)', async () => {
    const page = await openPage(chromium.context, chromium.site);
    await page.evaluate(() => tm.start('name=json'));
    const outcome = await page.evaluate(async () => {
      const cyclic: Record<string, unknown> = { page: '/a', user: 1, ts: 4 };
      cyclic.self = cyclic;
      for (let i = 0; i < 3; i++) tm.emitOne({ page: '/a', user: 1, ts: i });
      tm.emitOne({ page: '/a', user: 1, ts: 3, big: 10n });
      tm.emitOne(cyclic);
      // JSON's rules: a Date becomes its ISO string, a function property disappears.
      tm.emitOne({ page: '/a', user: 1, ts: 5, at: new Date(0), callback: () => 1 });
      tm.emitOne({ page: '/a', user: 1, ts: 6 });
      return tm.attempt(() => tm.drain());
    });
    expect(outcome).toMatch(/^InvalidRecordError: 2 of the events emitted before drain\(\) were refused: .*not writable as JSON/);
    expect((await page.evaluate(() => tm.status())).appended).toBe(5);
    await page.evaluate(() => tm.emitOne({ page: '/a', user: 1, ts: 1_000 }));
    await page.evaluate(() => tm.drain());
    expect(totals(await page.evaluate(() => tm.view()))).toEqual(['/a[0,100)=5']);
    await page.evaluate(() => tm.close());
    await page.close();
  });

  it('a pipeline that throws stops processing but keeps storing, and says so', async () => {
    const page = await openPage(chromium.context, chromium.site);
    await page.evaluate(() => tm.start('name=throws&kind=throwing'));
    await page.evaluate(() => tm.emitOne({ page: '/a', user: 1, ts: 1 }));
    await page.evaluate(() => tm.emitOne({ page: '/a', user: -1, ts: 2 }));
    await page.evaluate(() => tm.emit(6, 100, 0, 100));
    const status = await statusWhen(page, (s) => s.failed && s.appended === 102);
    expect(status.failed).toBe(true);
    expect(status.appended).toBe(102);
    expect(status.errors.map((e) => e.message)).toContain('fixture: the key function failed');
    // drain() cannot promise processing any more, and says why at once
    expect(await page.evaluate(() => tm.attempt(() => tm.drain()))).toMatch(
      /^PipelineError: the pipeline failed \(Error: fixture: the key function failed\); events are still stored/,
    );
    await page.evaluate(() => tm.close());
    await page.close();
  });

  it('a checkpoint from a different pipeline is refused clearly, and events are still stored', async () => {
    const page = await openPage(chromium.context, chromium.site);
    await page.evaluate(() => tm.start('name=changed&kind=tumbling'));
    await page.evaluate(() => tm.emit(9, 1_000));
    await page.evaluate(() => tm.drain());
    await page.evaluate(() => tm.close());
    await page.evaluate(() => tm.start('name=changed&kind=session'));
    await page.evaluate(() => tm.emit(9, 100, 1_000));
    const status = await statusWhen(page, (s) => s.failed && s.appended === 1_100);
    expect(status).toMatchObject({ failed: true, appended: 1_100, leader: true });
    expect(status.errors.find((e) => e.name === 'SnapshotError')?.message).toMatch(
      /the latest checkpoint cannot be restored into this pipeline .*give serveRuntime a new name/,
    );
    expect(await page.evaluate(() => tm.attempt(() => tm.drain()))).toMatch(/^PipelineError: the pipeline failed \(SnapshotError: /);
    await page.evaluate(() => tm.close());
    await page.close();
  });

  it('a worker that fails to load, bad options, a stalled open() and calls after close() all fail fast and clearly', async () => {
    const page = await openPage(chromium.context, chromium.site);
    expect(await page.evaluate(() => tm.attempt(() => tm.start('throwOnLoad=1')))).toMatch(
      /^WorkerError: the runtime's worker threw while loading: .*fixture: this worker fails while loading/,
    );
    expect(await page.evaluate(() => tm.attempt(() => tm.start('name=bad&policy=sometimes')))).toMatch(
      /^WorkerError: .*serveRuntime\.outbox\.policy: must be 'reject' or 'drop-oldest', got "sometimes"/,
    );
    expect(await page.evaluate(() => tm.attempt(() => tm.start('name=bad%20name')))).toMatch(
      /^WorkerError: .*serveRuntime\.name: must be 1-64 characters/,
    );
    await page.evaluate(() => tm.stallDatabase('tidemark:stalled'));
    const started = Date.now();
    expect(await page.evaluate(() => tm.attempt(() => tm.start('name=stalled&openTimeoutMs=300')))).toMatch(
      /^TimeoutError: IndexedDB open\("tidemark:stalled"\) did not complete within 300 ms/,
    );
    expect(Date.now() - started).toBeLessThan(5_000);

    await page.evaluate(() => tm.start('name=closing'));
    await page.evaluate(() => tm.emit(7, 100));
    await page.evaluate(() => tm.close());
    expect(await page.evaluate(() => tm.emitOne({ page: '/a', user: 1, ts: 1 }))).toBe(false);
    for (const call of ['drain', 'view', 'checkpoint', 'restart'] as const)
      expect(await page.evaluate((c) => tm.attempt(() => tm[c]()), call)).toMatch(
        new RegExp(`^RuntimeClosedError: ${call}\\(\\) after close\\(\\)`),
      );
    expect(await page.evaluate(() => tm.attempt(() => tm.close()))).toBe('ok');
    // what was emitted before close() is durable and processed
    await page.evaluate(() => tm.start('name=closing'));
    expect((await page.evaluate(() => tm.status())).appended).toBe(100);
    await page.evaluate(() => tm.close());
    await page.close();
  });
});

describe('browser runtime and a newer schema (Chromium)', () => {
  const own = useChromium();
  it('closes its connection when another tab opens a newer version of the database', async () => {
    const page = await openPage(own.context, own.site);
    await page.evaluate(() => tm.start('name=upgrade'));
    await page.evaluate(() => tm.emit(14, 100));
    await page.evaluate(() => tm.drain());
    expect(await page.evaluate(() => tm.openNewerVersion('tidemark:upgrade'))).toBe('opened');
    await page.close();
  });
});

describe('browser runtime under a real storage quota (Chromium)', () => {
  // A profile and an origin of its own: the quota override applies to a fresh origin.
  const own = useChromium();

  it("refuses with OutboxFullError when the browser's quota is exhausted, keeping what was stored", async () => {
    const page = await openPage(own.context, own.site);
    // DevTools' Storage.overrideQuotaForOrigin gives this origin a small real quota.
    const cdp = await own.context.newCDPSession(page);
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(own.site.url).origin, quotaSize: 400 * 1024 });
    await page.evaluate(() => tm.start('name=quota&everyEvents=1000000&everyMs=1000000'));
    await page.evaluate(() => tm.emit(8, 2_000, 0, 1_000));
    await page.evaluate(() => tm.drain());
    await page.evaluate(() => tm.checkpoint()); // these 2 000 are processed: the first to go
    const big = await page.evaluate(async () => {
      // Random padding: Chromium compresses large values, so repeated characters would not fill anything.
      const pad = () => Array.from(crypto.getRandomValues(new Uint8Array(60_000)), (b) => String.fromCharCode(33 + (b % 90))).join('');
      for (let i = 0; i < 20; i++) tm.emitOne({ page: '/big', user: i, ts: 5_000 + i, pad: pad() });
      return tm.attempt(() => tm.drain());
    });
    expect(big).toMatch(/^OutboxFullError: \d+ of the events emitted before drain\(\) were refused: the browser's storage quota is exhausted/);
    const status = await page.evaluate(() => tm.status());
    expect(status.refused).toBeGreaterThan(0);
    expect(status.appended).toBeGreaterThanOrEqual(2_000);
    expect(status.appended + status.refused).toBe(2_020);
    // Out of quota, the outbox first freed the checkpointed events, then tried again.
    expect(status.expired).toBe(2_000);
    // the runtime keeps working: small events still fit
    await page.evaluate(() => tm.emit(8, 100, 2_000, 100));
    expect(await page.evaluate(() => tm.attempt(() => tm.drain()))).toBe('ok');
    await page.evaluate(() => tm.close());
    await cdp.send('Storage.overrideQuotaForOrigin', { origin: new URL(own.site.url).origin });
    await page.close();
  });
});

describe.runIf(ENGINES.includes('firefox'))('browser runtime under a real storage quota (Firefox: a 10 MB fixed limit)', () => {
  // A profile of its own whose whole temporary storage is 10 MB (the pref is in KB).
  const own = useEngine('firefox', { firefoxPrefs: { 'dom.quotaManager.temporaryStorage.fixedLimit': 10_240 } });

  it("refuses with OutboxFullError at the quota; the connection Firefox then leaves read-only is reopened, and storing goes on", async () => {
    const page = await openTab(own.engine, own.site);
    await page.evaluate(() => tm.start('name=quota&everyEvents=1000000&everyMs=1000000'));
    await page.evaluate(() => tm.emit(8, 2_000, 0, 1_000));
    await page.evaluate(() => tm.drain());
    await page.evaluate(() => tm.checkpoint()); // these 2 000 are processed: the first to go
    const big = await page.evaluate(async () => {
      // Random padding, so that compression cannot make it fit: about 12 MB.
      const pad = () => Array.from(crypto.getRandomValues(new Uint8Array(60_000)), (b) => String.fromCharCode(33 + (b % 90))).join('');
      for (let i = 0; i < 200; i++) tm.emitOne({ page: '/big', user: i, ts: 5_000 + i, pad: pad() });
      return tm.attempt(() => tm.drain());
    });
    const status = await page.evaluate(() => tm.status());
    expect(big, JSON.stringify(status)).toMatch(/^OutboxFullError: \d+ of the events emitted before drain\(\) were refused: the browser's storage quota is exhausted/);
    expect(status.refused).toBeGreaterThan(0);
    expect(status.appended + status.refused).toBe(2_200);
    // Out of quota, the outbox first freed the checkpointed events, then tried again.
    expect(status.expired).toBe(2_000);
    // Firefox refuses the next write on that connection ("a database that did not allow mutations"): reopened.
    await page.evaluate(() => tm.emit(8, 100, 2_000, 100));
    expect(await page.evaluate(() => tm.attempt(() => tm.drain()))).toBe('ok');
    const after = await page.evaluate(() => tm.status());
    expect(after.appended).toBe(status.appended + 100);
    expect(after.storage.reopened).toBeGreaterThanOrEqual(1);
    await page.evaluate(() => tm.close());
    await page.close();
  }, 120_000);
});

describe('browser runtime when IndexedDB goes away (Chromium)', () => {
  it('reopens after the browser drops the database, keeps numbering, and goes on', async () => {
    const page = await openPage(chromium.context, chromium.site);
    await page.evaluate(() => tm.start('name=vanish&everyEvents=500&everyMs=10'));
    await page.evaluate(() => tm.emit(13, 1_000));
    await page.evaluate(() => tm.drain());
    // Clearing the site's IndexedDB closes every connection abnormally (idb's `terminated`).
    const cdp = await chromium.context.newCDPSession(page);
    await cdp.send('Storage.clearDataForOrigin', { origin: new URL(chromium.site.url).origin, storageTypes: 'indexeddb' });
    await page.evaluate(() => tm.emit(13, 1_000, 1_000));
    expect(await page.evaluate(() => tm.attempt(() => tm.drain()))).toBe('ok');
    const status = await page.evaluate(() => tm.status());
    // numbering goes on after 1 000 (a server must not take the new events for duplicates),
    // the pipeline went on too, and only the new events are stored
    expect(status).toMatchObject({ appended: 2_000, processed: 2_000, leader: true, failed: false });
    expect(status.outbox.events).toBe(1_000);
    // and the vanishing is reported
    expect(status.storage).toMatchObject({ vanished: 1, moved: 0 });
    expect(status.errors.map((e) => e.message).join('\n')).toMatch(/disappeared under the runtime/);
    await page.evaluate(() => tm.checkpoint());
    expect((await page.evaluate(() => tm.status())).lastCheckpoint?.seq).toBe(2_000);
    await page.evaluate(() => tm.close());
    await page.close();
  });
});
