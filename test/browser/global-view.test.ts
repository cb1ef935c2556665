// globalView against a real server (HTTP on loopback, the global speed layer
// over a file log): rows, drops resumed with Last-Event-ID, refusals, backoff.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { globalView, type GlobalViewUpdate } from '../../src/browser/index.js';
import { count, eventTime, tumbling, windowBy } from '../../src/index.js';
import { ProtocolError } from '../../src/protocol/index.js';
import { createHandler, fileLog, globalSpeedLayer, listen, readerTokenFor, tokenFor } from '../../src/server/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { until } from '../helpers.js';

const secret = 'the secret of the globalView test';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function server() {
  const dataDir = mkdtempSync(join(tmpdir(), 'tidemark-gv-'));
  dirs.push(dataDir);
  const log = await fileLog(join(dataDir, 'log'));
  const speed = await globalSpeedLayer({
    dataDir,
    log,
    pipeline: (events$) =>
      events$.pipe(
        eventTime({ timestamp: (e: { at: number }) => e.at, maxOutOfOrderness: 0 }),
        windowBy({ key: () => 'all', window: tumbling(1_000), aggregate: count() }),
      ),
  });
  let status = 0; // > 0: every request answers this status
  const handler = await createHandler({ log, secret, views: speed });
  const http = await listen(async (req) => (status ? new Response('{}', { status, headers: { 'retry-after': '2' } }) : handler(req)), { port: 0 });
  let seq = 0;
  const send = async (...ats: number[]) => {
    const events = ats.map((at) => ({ seq: ++seq, ts: at, data: { at } }));
    const res = await handler(
      new Request('http://x/v1/ingest', {
        method: 'POST',
        headers: { authorization: `Bearer ${await tokenFor(secret, 'c1')}` },
        body: JSON.stringify({ clientId: 'c1', events }),
      }),
    );
    expect(res.status).toBe(200);
    await speed.idle();
  };
  return {
    url: http.url,
    send,
    answer: (s: number) => (status = s),
    reader: await readerTokenFor(secret, 'dash'),
    async close() {
      await speed.close();
      await http.close();
      await log.close();
    },
  };
}

describe('globalView', () => {
  it('follows the view, and resumes after a drop with exactly the changes it missed', async () => {
    const s = await server();
    await s.send(100, 1_100);
    // A fetch whose streams the test can cut, as a network drop would.
    const open: AbortController[] = [];
    const cuttable: typeof fetch = (input, init) => {
      const cut = new AbortController();
      open.push(cut);
      init?.signal?.addEventListener('abort', () => cut.abort());
      return fetch(input, { ...init, signal: cut.signal });
    };
    const updates: GlobalViewUpdate[] = [];
    const sub = globalView({ url: s.url, token: s.reader, fetch: cuttable, backoff: { minBackoffMs: 1, maxBackoffMs: 5 } }).subscribe((u) =>
      updates.push(u),
    );
    await until('the first reset', () => updates.some((u) => u.reset));
    expect(updates.find((u) => u.reset)!.rows.map((r) => [r.start, r.value])).toEqual([[0, 1]]);
    await s.send(2_100);
    await until('the change', () => updates.at(-1)!.rows.length === 2);
    open.at(-1)!.abort(); // drop
    await s.send(3_100, 4_100); // two changes while disconnected
    await until('the resume', () => updates.at(-1)!.rows.length === 4);
    const changes = updates.flatMap((u) => u.changes.map((c) => c.id));
    expect(changes).toEqual([2, 3, 4]); // each once, in order
    expect(updates.filter((u) => u.reset)).toHaveLength(1); // resumed, not reset
    expect(updates.some((u) => u.state === 'retrying')).toBe(true);
    sub.unsubscribe();
    await s.close();
  });

  it('errors with the reason on a refused token or filter, instead of retrying', async () => {
    const s = await server();
    const failure = (token: string, more = {}) =>
      new Promise<unknown>((resolve) => globalView({ url: s.url, token, ...more }).subscribe({ error: resolve }));
    const denied = await failure(await tokenFor(secret, 'c1'));
    expect(denied).toBeInstanceOf(ProtocolError);
    expect((denied as ProtocolError).status).toBe(401);
    expect(String((denied as Error).message)).toMatch(/reader token/);
    const bad = await failure(s.reader, { from: 10, to: 5 });
    expect((bad as ProtocolError).status).toBe(400);
    expect(String((bad as Error).message)).toMatch(/reversed/);
    expect(() => globalView({ url: 'localhost:8787', token: 'x' })).toThrow(/base URL/);
    await s.close();
  });

  it('backs off on 429 and 503, at least for Retry-After, on its injected clock', async () => {
    const s = await server();
    s.answer(503);
    const clock = virtualClock(0);
    const updates: GlobalViewUpdate[] = [];
    const sub = globalView({ url: s.url, token: s.reader, clock, random: () => 0 }).subscribe((u) => updates.push(u));
    await until('a retry', () => updates.some((u) => u.state === 'retrying'));
    expect(updates.at(-1)!.retryInMs).toBe(2_000); // jitter 0, so Retry-After: 2 s decides
    s.answer(0);
    await clock.advance(2_000);
    await until('live', () => updates.at(-1)!.state === 'live');
    sub.unsubscribe();
    await s.close();
  });
});
