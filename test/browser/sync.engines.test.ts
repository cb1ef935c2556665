// The uploader against the real server in Chromium, Firefox and WebKit. The
// Firefox and WebKit drivers cannot cut a tab's network, so "offline" here is
// the server itself: stopped (its port refusing) and started again on the
// same port, which every engine meets the same way. The outbox must then
// drain exactly once: every (clientId, seq) in the log, none twice.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Listening, memoryLog } from '../../src/server/index.js';
import type { Tm } from './fixtures/page.js';
import { ENGINES } from './engines.js';
import { openTab, useEngine } from './setup.js';
import { contents, eventually, startServer, tokenServer } from './sync-server.js';

declare const tm: Tm;

let tokens: Listening | undefined;
beforeAll(async () => {
  tokens = await tokenServer();
});
afterAll(async () => tokens?.close());

describe.each(ENGINES)('uploader against the real server (%s)', (name) => {
  const browser = useEngine(name);
  const servers: Listening[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('server stopped mid-session: events wait in the outbox, and drain exactly once when it is back on the same port', async () => {
    const log = memoryLog();
    const server = await startServer(log);
    servers.push(server);
    const page = await openTab(browser.engine, browser.site);
    await page.evaluate((o) => tm.start('name=stopped&maxBackoffMs=500', o), { server: server.url, tokens: tokens!.url });
    await page.evaluate(() => tm.emit(21, 2_000));
    await page.evaluate(() => tm.drain());
    await eventually('the first events uploaded', async () => (await page.evaluate(() => tm.status())).upload.acked === 2_000);

    await server.close(); // the port refuses from now on
    await page.evaluate(() => tm.emit(21, 3_000, 2_000));
    await page.evaluate(() => tm.drain());
    await eventually('a backoff after a refused attempt', async () => (await page.evaluate(() => tm.status())).upload.state === 'backoff');
    const down = await page.evaluate(() => tm.status());
    expect(down.upload.acked).toBe(2_000);
    expect(down.upload.lastError).toBeTruthy();
    expect(down.outbox.events).toBeGreaterThanOrEqual(3_000);
    expect(await contents(log)).toEqual({ events: 2_000, duplicates: 0 });

    servers.push(await startServer(log, server.port));
    await eventually('acknowledged after the server came back', async () => (await page.evaluate(() => tm.status())).upload.acked === 5_000);
    // Several more upload rounds (backoff at most 500 ms): nothing goes twice.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await contents(log)).toEqual({ events: 5_000, duplicates: 0 });
    expect((await page.evaluate(() => tm.status())).upload).toMatchObject({ acked: 5_000, deadLetters: 0 });
    await page.evaluate(() => tm.close());
    expect(await page.errors()).toEqual([]);
    await page.close();
  }, 120_000);

  it('server down for a whole session, across a reload: delivered exactly once when it starts', async () => {
    const log = memoryLog();
    const probe = await startServer(memoryLog());
    const port = probe.port;
    await probe.close(); // a port with nobody listening
    const opts = { server: `http://127.0.0.1:${port}`, tokens: tokens!.url };
    const page = await openTab(browser.engine, browser.site);
    await page.evaluate((o) => tm.start('name=down&maxBackoffMs=500', o), opts);
    await page.evaluate(() => tm.emit(22, 2_000));
    await page.evaluate(() => tm.drain());
    await eventually('a backoff after a refused attempt', async () => (await page.evaluate(() => tm.status())).upload.state === 'backoff');
    await page.reload();
    await page.waitFor(() => 'tm' in globalThis);
    await page.evaluate((o) => tm.start('name=down&maxBackoffMs=500', o), opts);
    await page.evaluate(() => tm.emit(22, 2_000, 2_000));
    await page.evaluate(() => tm.drain());
    expect((await page.evaluate(() => tm.status())).upload.acked).toBe(0);

    servers.push(await startServer(log, port));
    await eventually('delivered', async () => (await page.evaluate(() => tm.status())).upload.acked === 4_000);
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await contents(log)).toEqual({ events: 4_000, duplicates: 0 });
    await page.evaluate(() => tm.close());
    await page.close();
  }, 120_000);

  it('a page closed in the middle of an upload: the next page delivers the rest, nothing twice', async () => {
    const log = memoryLog();
    const server = await startServer(log, 0, 150); // slow answers: requests are in flight when the page goes
    servers.push(server);
    const opts = { server: server.url, tokens: tokens!.url };
    let page = await openTab(browser.engine, browser.site);
    await page.evaluate((o) => tm.start('name=midway&maxBatchBytes=20000', o), opts);
    await page.evaluate(() => tm.emit(23, 10_000));
    await page.evaluate(() => tm.drain());
    await eventually('upload under way', async () => (await contents(log)).events > 0);
    await page.close();
    const partial = (await contents(log)).events;
    expect(partial).toBeLessThan(10_000);
    page = await openTab(browser.engine, browser.site);
    await page.evaluate((o) => tm.start('name=midway', o), opts);
    await eventually('the rest delivered', async () => (await contents(log)).events === 10_000, 60_000);
    expect(await contents(log)).toEqual({ events: 10_000, duplicates: 0 });
    await page.evaluate(() => tm.close());
    await page.close();
  }, 120_000);
});
