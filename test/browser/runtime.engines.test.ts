// The browser runtime in Chromium, Firefox and WebKit: real Workers, real
// IndexedDB, one suite over the engine adapter in ./engines.ts.
import { describe, expect, it } from 'vitest';
import { createPipeline, isRecord, type Timed, type WindowResult } from '../../src/index.js';
import { seededRandom } from '../../src/testing/index.js';
import type { Tm } from './fixtures/page.js';
import { buildPipeline, type Click, clicks, type PipelineKind } from './fixtures/scenario.js';
import { serve } from './chromium.js';
import { ENGINES, type EnginePage } from './engines.js';
import { openTab, useEngine } from './setup.js';

declare const tm: Tm;
type Result = WindowResult<string | number, number>;

/** What an uninterrupted run gives: every pane fired, then the latest per window. */
function expectedView(kind: PipelineKind, events: Click[]): string[] {
  const fired: Result[] = [];
  const run = createPipeline(buildPipeline(kind)).open((r) => {
    if (isRecord(r as Timed<unknown>)) fired.push((r as { value: Result }).value);
  });
  run.pushAll(events);
  return normalise(fired);
}

/** Latest pane per window, as sorted strings (pane and timing included: they must match too). */
function normalise(results: readonly unknown[]): string[] {
  const latest = new Map<string, Result>();
  for (const r of results as Result[]) {
    const id = `${r.key}|${r.start}|${r.end}`;
    const seen = latest.get(id);
    if (!seen || r.pane >= seen.pane) latest.set(id, r);
  }
  return [...latest.values()].map((r) => `${r.key}[${r.start},${r.end})=${r.value} ${r.timing}#${r.pane}`).sort();
}

/** What each engine answers to navigator.storage.persist() here, and why. */
const PERSIST = {
  chromium: { answer: 'denied', because: 'Chromium: denied, a fresh profile has no site engagement' },
  firefox: { answer: 'granted', because: "Firefox: granted by the profile's pref" },
  webkit: { answer: 'denied', because: 'WebKit: denied' },
} as const;

/** Polls `status$` until `done` holds (or 10 s pass). */
async function statusWhen(page: Pick<EnginePage, 'evaluate'>, done: (s: Awaited<ReturnType<Tm['status']>>) => boolean) {
  let status = await page.evaluate(() => tm.status());
  for (let i = 0; i < 100 && !done(status); i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = await page.evaluate(() => tm.status());
  }
  return status;
}

describe.each(ENGINES)('browser runtime (%s)', (name) => {
  const browser = useEngine(name);

  it('stores, processes and views every event; results reach the page', async () => {
    const page = await openTab(browser.engine, browser.site);
    await page.evaluate(() => tm.start('name=basic'));
    await page.evaluate(() => tm.emit(1, 20_000));
    const receipt = await page.evaluate(() => tm.drain());
    expect(receipt.through).toBe(20_000);
    const view = await page.evaluate(() => tm.view());
    expect(normalise(view)).toEqual(expectedView('tumbling', clicks(1, 20_000)));
    const status = await page.evaluate(() => tm.status());
    expect(status).toMatchObject({ leader: true, appended: 20_000, processed: 20_000, pending: 0, dropped: 0, refused: 0 });
    expect(status.outbox.events).toBe(20_000);
    // results$ saw the same panes as the view holds
    expect(normalise(await page.evaluate(() => tm.results))).toEqual(normalise(view));
    await page.evaluate(() => tm.close());
    expect(await page.errors()).toEqual([]);
    await page.close();
  }, 120_000);

  it('runs the reference worker, workers/analytics.worker.ts, as the README shows it', async () => {
    const here = new URL('.', import.meta.url).pathname;
    const site = await serve({ page: `${here}fixtures/page.ts`, 'runtime.worker': `${here}../../workers/analytics.worker.ts` });
    try {
      const page = await openTab(browser.engine, site);
      await page.evaluate(() => tm.start(''));
      const view = await page.evaluate(async () => {
        for (const ts of [1_000, 30_000, 2_000, 61_000]) tm.emitOne({ page: ts < 60_000 ? '/home' : '/about', ts });
        tm.emitOne({ page: '/home', ts: 70_000 }); // the watermark passes 60 000: [0, 60 000) fires
        await tm.drain();
        return tm.view();
      });
      expect(view).toEqual([{ key: '/home', start: 0, end: 60_000, value: 3, timing: 'on-time', pane: 0, source: 'speed' }]);
      await page.evaluate(() => tm.close());
      await page.close();
    } finally {
      await site.close();
    }
  });

  it('keeps everything across a reload, then continues exactly', async () => {
    const page = await openTab(browser.engine, browser.site);
    await page.evaluate(() => tm.start('name=reload&everyEvents=3000'));
    await page.evaluate(() => tm.emit(2, 10_000));
    await page.evaluate(() => tm.drain());
    await page.reload();
    await page.waitFor(() => 'tm' in globalThis);
    await page.evaluate(() => tm.start('name=reload&everyEvents=3000'));
    expect(normalise(await page.evaluate(() => tm.view()))).toEqual(expectedView('tumbling', clicks(2, 10_000)));
    await page.evaluate(() => tm.emit(2, 10_000, 10_000));
    await page.evaluate(() => tm.drain());
    const all = [...clicks(2, 10_000), ...clicks(2, 10_000, 10_000)];
    expect(normalise(await page.evaluate(() => tm.view()))).toEqual(expectedView('tumbling', all));
    await page.evaluate(() => tm.close());
    await page.close();
  }, 120_000);

  it(
    name === 'webkit'
      ? 'loses nothing and counts nothing twice when the worker is killed at random points (WebKit: a database left silent by a killed worker is left for a fresh one, and what it held with it)'
      : 'loses nothing and counts nothing twice when the worker is killed at random points',
    async () => {
      const page = await openTab(browser.engine, browser.site);
      const rand = seededRandom(7);
      let moves = 0;
      for (let run = Number(process.env.FIRST_RUN ?? 0); run < 12; run++) {
        const kind: PipelineKind = run % 2 === 0 ? 'tumbling' : 'session';
        const seed = 100 + run;
        const n = 6_000 + Math.floor(rand() * 6_000);
        const kills = [Math.floor(rand() * 20), Math.floor(rand() * 20)];
        const killAfterMs = Math.floor(rand() * 40);
        // Every third run sends structured clones instead of JSON.
        const encoding = run % 3 === 2 ? 'structured-clone' : 'json';
        await page.evaluate(
          ({ run, kind, encoding }) => tm.start(`name=kill${run}&kind=${kind}&everyEvents=700&everyMs=5`, { encoding }),
          { run, kind, encoding } as const,
        );
        await page.evaluate((ms) => tm.killAfter(ms), killAfterMs);
        await page.evaluate(({ seed, n, kills }) => tm.emit(seed, n, 0, 300, kills), { seed, n, kills });
        const drained = await page.evaluate(() => tm.attempt(() => tm.drain()));
        if (drained !== 'ok') {
          const last = await page.evaluate(() => tm.statusWithin(15_000));
          const probe = process.env.DEBUG_KILL
            ? await page.evaluate(async (db: string) => {
                const within = <T,>(p: Promise<T>) => Promise.race([p, new Promise((r) => setTimeout(() => r('no answer in 3 s'), 3_000))]);
                const list = await within(indexedDB.databases().then((l) => l.map((d) => d.name).join(',')));
                const read = await within(
                  new Promise((resolve) => {
                    const r = indexedDB.open(db);
                    r.onsuccess = () => {
                      const g = r.result.transaction('meta').objectStore('meta').get('meta');
                      g.onsuccess = () => resolve(JSON.stringify(g.result));
                    };
                    r.onerror = () => resolve(String(r.error));
                  }),
                );
                const write = await within(
                  new Promise((resolve) => {
                    const r = indexedDB.open(db);
                    r.onsuccess = () => {
                      const tx = r.result.transaction(['meta', 'outbox', 'batches'], 'readwrite');
                      tx.objectStore('meta').get('meta');
                      tx.oncomplete = () => resolve('readwrite ok');
                      tx.onerror = () => resolve(String(tx.error));
                    };
                    r.onerror = () => resolve(String(r.error));
                  }),
                );
                const locks = await within(navigator.locks.query().then((q) => JSON.stringify(q)));
                return { list, read, write, locks };
              }, `tidemark:kill${run}`)
            : null;
          expect.fail(`${name} run ${run}: ${drained}; status$ 15 s later: ${JSON.stringify(last)}; probe: ${JSON.stringify(probe)}`);
        }
        const status = await page.evaluate(() => tm.status());
        const view = await page.evaluate(() => tm.view());
        if (process.env.DEBUG_KILL) console.log(name, run, JSON.stringify(status));
        expect(status.restarts).toBeGreaterThanOrEqual(1);
        const exact = () => {
          expect(normalise(view), `${name} run ${run} (${kind}, ${encoding}, ${n} events, kills at chunks ${kills} and ${killAfterMs} ms)`).toEqual(
            expectedView(kind, clicks(seed, n)),
          );
          expect(status.appended).toBe(n);
        };
        if (status.storage.moved === 0) exact();
        else {
          // WebKit only: a worker terminated inside an append left that read-write
          // transaction unfinished for good, and every later transaction on the
          // outbox's stores (readers too, new connections too) waits behind it.
          // The runtime moved to a fresh database and said so. Events stored in
          // the old one are out of reach, and numbering never repeats (a new
          // client id when the old one could not be read).
          expect(name).toBe('webkit');
          moves++;
          expect(status.storage.database).toMatch(new RegExp(`^tidemark:kill${run}~\\d+$`));
          const messages = status.errors.map((e) => e.message).join('\n');
          expect(messages).toMatch(/"tidemark:kill\d+" stopped answering .* moved to "tidemark:kill\d+~\d+"/);
          // Every event in the fresh database (the old one held nothing the page
          // had been told was stored, so it sent everything again): exact.
          if (status.appended === n) exact();
          else expect(status.appended).toBeLessThan(n);
          expect(status.processed).toBe(status.appended);
        }
        await page.evaluate(() => tm.close());
      }
      if (moves > 0) console.log(`${name}: moved to a fresh database in ${moves} of 12 runs`);
      await page.close();
    },
    120_000,
  );

  it('reopens a connection closed under it (as WebKit loses its IndexedDB server connection) and goes on', async () => {
    const page = await openTab(browser.engine, browser.site);
    await page.evaluate(() => tm.start('name=lost&everyEvents=500&everyMs=10'));
    await page.evaluate(() => tm.emit(16, 1_000));
    await page.evaluate(() => tm.drain());
    await page.evaluate(() => tm.closeConnections());
    await page.evaluate(() => tm.emit(16, 1_000, 1_000));
    expect(await page.evaluate(() => tm.attempt(() => tm.drain()))).toBe('ok');
    const status = await page.evaluate(() => tm.status());
    expect(status).toMatchObject({ appended: 2_000, processed: 2_000, failed: false });
    expect(status.storage).toMatchObject({ database: 'tidemark:lost', moved: 0, vanished: 0 });
    expect(status.storage.reopened).toBeGreaterThanOrEqual(1);
    expect(normalise(await page.evaluate(() => tm.view()))).toEqual(expectedView('tumbling', [...clicks(16, 1_000), ...clicks(16, 1_000, 1_000)]));
    await page.evaluate(() => tm.close());
    await page.close();
  }, 120_000);

  it('moves to a fresh database, keeping client id and numbering, when its database stops answering, and says so', async () => {
    const page = await openTab(browser.engine, browser.site);
    const clientId = await page.evaluate(() => tm.start('name=held&everyEvents=500&everyMs=10&transactionTimeoutMs=400'));
    await page.evaluate(() => tm.emit(17, 1_000));
    await page.evaluate(() => tm.drain());
    // Another connection holds a transaction over every store: the runtime's get no answer.
    await page.evaluate(() => tm.holdDatabase('tidemark:held'));
    await page.evaluate(() => tm.emit(17, 1_000, 1_000));
    expect(await page.evaluate(() => tm.attempt(() => tm.drain()))).toBe('ok');
    const status = await page.evaluate(() => tm.status());
    if (process.env.DEBUG_KILL) console.log(name, JSON.stringify(status));
    expect(status).toMatchObject({ appended: 2_000, failed: false });
    expect(status.storage).toMatchObject({ database: 'tidemark:held~1', moved: 1, vanished: 0 });
    expect(status.storage.reopened).toBeGreaterThanOrEqual(1);
    const messages = status.errors.map((e) => e.message).join('\n');
    expect(messages).toMatch(/no answer within 400 ms; reopened the connection/);
    expect(messages).toMatch(/"tidemark:held" stopped answering .* moved to "tidemark:held~1", keeping the client id and the numbering/);
    await page.evaluate(() => tm.close());
    await page.evaluate(() => tm.release());
    // A new start finds the fresh database, with the same client id and the numbering after 2 000.
    expect(await page.evaluate(() => tm.start('name=held&everyEvents=500&everyMs=10&transactionTimeoutMs=400'))).toBe(clientId);
    await page.evaluate(() => tm.emit(17, 500, 2_000));
    await page.evaluate(() => tm.drain());
    expect(await page.evaluate(() => tm.status())).toMatchObject({ appended: 2_500, storage: { database: 'tidemark:held~1', moved: 0 } });
    await page.evaluate(() => tm.close());
    await page.close();
  });

  it(`asks for persistent storage with persist: true and reports the answer on status$ (${PERSIST[name].because})`, async () => {
    const page = await openTab(browser.engine, browser.site);
    await page.evaluate(() => tm.start('name=persist', { persist: true }));
    const status = await statusWhen(page, (s) => s.storage.persist !== 'asking');
    expect(status.storage.persist).toBe(PERSIST[name].answer);
    if (PERSIST[name].answer === 'granted') expect(status.storage.persisted).toBe(true);
    expect(typeof status.storage.usage).toBe('number');
    expect(typeof status.storage.quota).toBe('number');
    await page.evaluate(() => tm.close());
    // Without the option, nothing is asked.
    await page.evaluate(() => tm.start('name=persist'));
    expect((await page.evaluate(() => tm.status())).storage.persist).toBe('not-asked');
    await page.evaluate(() => tm.close());
    await page.close();
  });

  it(
    name === 'webkit'
      ? 'a relaunched WebKit starts with empty storage (WebKit keeps storage in memory under automation), and works'
      : 'keeps everything across a browser relaunch on the same profile',
    async () => {
      let page = await openTab(browser.engine, browser.site);
      const first = await page.evaluate(() => tm.start('name=relaunch&everyEvents=1000'));
      await page.evaluate(() => tm.emit(15, 3_000));
      await page.evaluate(() => tm.drain());
      await page.evaluate(() => tm.close());
      await browser.engine.relaunch();
      page = await openTab(browser.engine, browser.site);
      const again = await page.evaluate(() => tm.start('name=relaunch&everyEvents=1000'));
      const kept = browser.engine.can.relaunch;
      expect(again === first).toBe(kept);
      expect((await page.evaluate(() => tm.status())).appended).toBe(kept ? 3_000 : 0);
      if (kept) expect(normalise(await page.evaluate(() => tm.view()))).toEqual(expectedView('tumbling', clicks(15, 3_000)));
      await page.evaluate(() => tm.emit(15, 1_000, 3_000));
      await page.evaluate(() => tm.drain());
      expect((await page.evaluate(() => tm.status())).appended).toBe(kept ? 4_000 : 1_000);
      await page.evaluate(() => tm.close());
      await page.close();
    },
    120_000,
  );
});
