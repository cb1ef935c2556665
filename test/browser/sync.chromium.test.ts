// The uploader in real Chromium against the real server (tidemark/server
// over HTTP): what needs Chromium's network emulation (offline, reload,
// reconnect; the offline switch across tabs), a wrong token, and the batch
// layer's corrections. The server down and a page closed mid-upload run in
// all three engines, in sync.engines.test.ts.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createPipeline, isRecord, type Timed, type WindowResult } from '../../src/index.js';
import { createHandler, type Listening, listen, memoryCorrections, memoryLog, memoryResults, reconcile, tokenFor } from '../../src/server/index.js';
import { buildPipeline, clicks } from './fixtures/scenario.js';
import type { Tm } from './fixtures/page.js';
import { openPage, useChromium } from './setup.js';
import { contents, eventually, secret, startServer, tokenServer as listenTokens } from './sync-server.js';

declare const tm: Tm;
const chromium = useChromium();

/** The app's token endpoint, always up. */
let tokens: Listening | undefined;
async function tokenServer(): Promise<string> {
  tokens ??= await listenTokens();
  return tokens.url;
}
afterAll(async () => tokens?.close());

describe('uploader against the real server (Chromium)', () => {
  const servers: Listening[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
    await chromium.context.setOffline(false);
  });

  it('emits offline, reloads, reconnects: the log holds every event exactly once', async () => {
    const log = memoryLog();
    const server = await startServer(log);
    servers.push(server);
    const page = await openPage(chromium.context, chromium.site);
    const opts = { server: server.url, tokens: await tokenServer() };
    await page.evaluate((o) => tm.start('name=offline', o), opts);
    await chromium.context.setOffline(true);
    await page.evaluate(() => tm.emit(1, 4_000));
    await page.evaluate(() => tm.drain());
    // A request begun as the network went away may still be failing: wait for it to end.
    await eventually('the uploader to notice', async () =>
      ['offline', 'backoff'].includes((await page.evaluate(() => tm.status())).upload.state),
    ).catch(async (err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify((await page.evaluate(() => tm.status())).upload)}`);
    });
    const offline = await page.evaluate(() => tm.status());
    expect(offline.online).toBe(false);
    const before = (await contents(log)).events;
    expect(before).toBeLessThan(4_000);

    // Reload: Chromium cannot load the page offline (no service worker
    // here), so the server stays unreachable while the network comes back
    // for the reload, and the network is cut again after it.
    await server.close();
    await chromium.context.setOffline(false);
    await page.reload();
    await page.waitForFunction(() => 'tm' in globalThis);
    await page.evaluate((o) => tm.start('name=offline', o), opts);
    await chromium.context.setOffline(true);
    await page.evaluate(() => tm.emit(2, 4_000, 1_000));
    await page.evaluate(() => tm.drain());
    expect((await contents(log)).events).toBe(before);

    servers.push(await startServer(log, server.port));
    await chromium.context.setOffline(false);
    await eventually('the log holds 8000 events', async () => (await contents(log)).events === 8_000);
    await eventually('acked', async () => (await page.evaluate(() => tm.status())).upload.acked === 8_000);
    expect(await contents(log)).toEqual({ events: 8_000, duplicates: 0 });
    const status = await page.evaluate(() => tm.status());
    expect(status.upload).toMatchObject({ deadLetters: 0, lastError: null });
    await page.evaluate(() => tm.close());
    await page.close();
  });

  it('setOffline(true) holds uploads in every tab, across crashes and a change of leader; setOffline(false) drains', async () => {
    const log = memoryLog();
    const server = await startServer(log);
    servers.push(server);
    const opts = { server: server.url, tokens: await tokenServer() };
    const first = await openPage(chromium.context, chromium.site);
    await first.evaluate((o) => tm.start('name=switch', o), opts);
    await first.evaluate(() => tm.emit(3, 1_000));
    await first.evaluate(() => tm.drain());
    await eventually('the first events uploaded', async () => (await contents(log)).events === 1_000);
    // And their acknowledgement stored by the client: a restart before it would upload them again (deduplicated by the server).
    await eventually('the first events acknowledged', async () => (await first.evaluate(() => tm.status())).upload.acked === 1_000);

    await first.evaluate(() => tm.setOffline(true));
    await first.evaluate(() => tm.restart()); // the page gives the new worker the switch again
    await first.evaluate(() => tm.emit(4, 1_000, 1_000));
    await first.evaluate(() => tm.drain());
    const second = await openPage(chromium.context, chromium.site); // learns it from the first tab
    await second.evaluate((o) => tm.start('name=switch', o), opts);
    await first.close(); // the second tab leads now
    await second.evaluate(() => tm.restart()); // its page learned the switch from its worker
    await second.evaluate(() => tm.emit(5, 1_000, 2_000));
    await second.evaluate(() => tm.drain());
    await new Promise((r) => setTimeout(r, 1_500)); // several upload rounds (maxBackoffMs 1 s)
    const held = await second.evaluate(() => tm.status());
    expect(held.online).toBe(false);
    expect(held.leader).toBe(true);
    expect(held.appended).toBe(3_000);
    expect(held.upload.acked).toBe(1_000);
    expect((await contents(log)).events).toBe(1_000);

    await second.evaluate(() => tm.setOffline(false));
    await eventually('the outbox drained', async () => (await contents(log)).events === 3_000);
    expect((await contents(log)).duplicates).toBe(0);
    expect(await second.evaluate(() => tm.attempt(() => tm.setOffline('yes' as never)))).toMatch(/^InvalidOptionError: .*takes a boolean/);
    await second.close();
  });

  it('a token made from the wrong secret: a few requests, not hundreds; a right token from the page resumes at once', async () => {
    const log = memoryLog();
    const handler = await createHandler({ log, secret, rate: false });
    let refused = 0;
    const server = await listen(
      async (req) => {
        const res = await handler(req);
        if (res.status === 401) refused++;
        return res;
      },
      { port: 0 },
    );
    servers.push(server);
    // The app's token endpoint, misconfigured with the wrong secret until fixed below.
    let tokenSecret = 'not the server secret, long enough';
    const wrongTokens = await listen(
      async (req) =>
        new Response(await tokenFor(tokenSecret, new URL(req.url).searchParams.get('clientId') ?? ''), {
          headers: { 'access-control-allow-origin': '*' },
        }),
      { port: 0 },
    );
    servers.push(wrongTokens);
    const page = await openPage(chromium.context, chromium.site);
    await page.evaluate((o) => tm.start('name=wrongtoken&maxBackoffMs=1000', o), { server: server.url, tokens: wrongTokens.url });
    await page.evaluate(() => tm.emit(6, 1_000));
    await page.evaluate(() => tm.drain());
    await eventually('paused', async () => (await page.evaluate(() => tm.status())).upload.state === 'paused');
    // Each 401 asks the page for a token and gets the same one again: that must not
    // wake the uploader. A pause waits 0.5 to 1 s (maxBackoffMs 1 s): at most 7 in 3 s.
    const before = refused;
    await new Promise((r) => setTimeout(r, 3_000));
    expect(refused - before).toBeLessThanOrEqual(7);
    const held = (await page.evaluate(() => tm.status())).upload;
    expect(held).toMatchObject({ acked: 0, deadLetters: 0, lastError: expect.stringMatching(/^401: /) });
    expect(['paused', 'uploading']).toContain(held.state); // between pauses, one try at a time
    tokenSecret = secret; // fixed: the next token the page fetches differs, and is used at once
    await eventually('delivered', async () => (await contents(log)).events === 1_000, 5_000);
    await page.evaluate(() => tm.close());
    await page.close();
  });

  it('uploads its results; after reconcile, the view converges to the batch values (source: batch)', async () => {
    const log = memoryLog();
    const results = memoryResults();
    const corrections = memoryCorrections();
    const server = await startServer(log, 0, 0, { results, corrections });
    servers.push(server);
    const page = await openPage(chromium.context, chromium.site);
    await page.evaluate((o) => tm.start('name=converge&correctionsEveryMs=200', o), { server: server.url, tokens: await tokenServer() });
    await page.evaluate(() => tm.watchView());
    // Disorder beyond the pipeline's bound and lateness: the speed layer drops some events.
    await page.evaluate(() => tm.emit(5, 6_000));
    // Stragglers far behind the watermark (~1 150): the speed layer drops them, the batch layer counts them.
    const stragglers = [10, 120, 130, 450].map((ts) => ({ page: '/p3', user: 1, ts }));
    await page.evaluate((late) => late.forEach((e) => tm.emitOne(e)), stragglers);
    await page.evaluate(() => tm.drain());
    await eventually('uploaded', async () => (await contents(log)).events === 6_004);
    await eventually('results uploaded', async () => (await page.evaluate(() => tm.status())).upload.state === 'idle');
    const speed = await page.evaluate(() => tm.view());
    expect(speed.every((e) => e.source === 'speed')).toBe(true);

    const pipeline = buildPipeline('tumbling');
    const report = await reconcile({ log, pipeline, results, corrections });
    expect(report.events).toBe(6_004);
    expect(report.written).toBeGreaterThan(0);
    // The batch layer's answer: the same pipeline over the events in time order, nothing late.
    const batch = new Map<string, number>();
    const run = createPipeline(pipeline).open((r) => {
      if (!isRecord(r as Timed<unknown>)) return;
      const w = (r as { value: WindowResult<string, number> }).value;
      batch.set(`${w.key}|${w.start}|${w.end}`, w.value);
    });
    run.pushAll([...clicks(5, 6_000), ...stragglers].sort((a, b) => a.ts - b.ts));
    run.end();
    const differing = speed.filter((e) => batch.get(`${e.key}|${e.start}|${e.end}`) !== e.value).length;
    expect(differing).toBeGreaterThan(0);
    // Only windows final for the client are corrected: its watermark passed end + allowedLateness (100 ms).
    const { watermark } = await page.evaluate(() => tm.status());
    const final = new Map([...batch].filter(([id]) => Number(id.split('|')[2]) + 100 <= watermark));
    expect(report.pending).toBe([...batch].filter(([id, v]) => !final.has(id) && speed.find((e) => `${e.key}|${e.start}|${e.end}` === id)?.value !== v).length);
    const converged = (entries: readonly { key: string | number; start: number; end: number; value: unknown; source?: string }[]) =>
      [...final].every(([id, v]) => entries.some((e) => `${e.key}|${e.start}|${e.end}` === id && e.value === v)) &&
      entries.every((e) => final.has(`${e.key}|${e.start}|${e.end}`) || e.source !== 'batch');

    await eventually('the view converges', async () => converged(await page.evaluate(() => tm.view())));
    const view = await page.evaluate(() => tm.view());
    expect(view.filter((e) => e.source === 'batch').length).toBe(report.written);
    // view$ saw it too.
    await eventually('view$ converges', async () => {
      const last = (await page.evaluate(() => tm.viewUpdates.at(-1))) as { key: string; start: number; end: number; value: number; source: string }[];
      return converged(last);
    });
    // A second reconcile changes nothing.
    expect((await reconcile({ log, pipeline, results, corrections })).written).toBe(0);
    await page.evaluate(() => tm.close());
    await page.close();

    // Corrections are kept in IndexedDB: with the server gone, a new page still shows them.
    await server.close();
    const again = await openPage(chromium.context, chromium.site);
    await again.evaluate((o) => tm.start('name=converge', o), { server: server.url, tokens: await tokenServer() });
    await eventually('corrections restored offline', async () => {
      const restored = await again.evaluate(() => tm.view());
      return restored.filter((e) => e.source === 'batch').length === view.filter((e) => e.source === 'batch').length;
    });
    await again.evaluate(() => tm.close());
    await again.close();
  });
});
