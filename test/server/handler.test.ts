import { afterEach, describe, expect, it } from 'vitest';
import { StorageError } from '../../src/errors.js';
import { promtoolProblems } from './promtool.js';
import { createHandler, listen, memoryLog, tokenFor, type EventLog, type Handler } from '../../src/server/index.js';

const secret = 'test secret, long enough';
const base = 'http://tidemark.test';
const event = (seq: number, ts = seq * 1000) => ({ seq, ts, data: { n: seq } });

async function setup(options: Partial<Parameters<typeof createHandler>[0]> = {}) {
  const log = memoryLog();
  let clock = 1_000_000;
  const handler = await createHandler({ log, secret, now: () => clock, ...options });
  return { log, handler, tick: (ms: number) => (clock += ms) };
}

async function post(handler: Handler, body: unknown, token?: string | null, clientId = 'c1') {
  const auth = token === null ? undefined : (token ?? (await tokenFor(secret, clientId)));
  const res = await handler(
    new Request(`${base}/v1/ingest`, {
      method: 'POST',
      headers: auth ? { authorization: `Bearer ${auth}` } : {},
      body: typeof body === 'string' ? body : JSON.stringify(body),
    }),
  );
  return { status: res.status, body: (await res.json()) as any, headers: res.headers };
}

const held = async (log: EventLog) => {
  const out: number[] = [];
  for await (const chunk of log.read()) for (const e of chunk) out.push(e.seq);
  return out;
};

describe('POST /v1/ingest', () => {
  it('appends, acknowledges, and deduplicates replays and reordered batches', async () => {
    const { log, handler } = await setup();
    const b1 = [1, 2, 3].map((s) => event(s));
    const b2 = [4, 5, 6].map((s) => event(s));
    let r = await post(handler, { clientId: 'c1', events: b2 });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ackedThrough: 0, appended: 3, duplicates: 0, gaps: [[1, 3]] });
    expect(handler.metrics()).toMatch(/^tidemark_client_missing_events\{client="c1"\} 3$/m);
    r = await post(handler, { clientId: 'c1', events: b1 });
    expect(r.body).toEqual({ ackedThrough: 6, appended: 3, duplicates: 0, gaps: [] });
    expect(handler.metrics()).not.toMatch(/tidemark_client_missing_events\{/);
    r = await post(handler, { clientId: 'c1', events: [...b1, ...b2] });
    expect(r.body).toEqual({ ackedThrough: 6, appended: 0, duplicates: 6, gaps: [] });
    expect((await held(log)).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6]);
    const logged = (await (async () => { for await (const c of log.read()) return c; })())!;
    expect(logged[0]).toEqual({ clientId: 'c1', seq: 4, ts: 4000, receivedAt: 1_000_000, data: { n: 4 } });
  });

  it('refuses bad input with the right status, naming the field, and appends nothing', async () => {
    const { log, handler } = await setup({ maxBodyBytes: 10_000 });
    const cases: [unknown, number, string | undefined][] = [
      ['{"clientId": "c1", "events": [', 400, 'body'],
      ['[1,2]', 400, 'clientId'],
      [{ clientId: 'c1', events: 'nope' }, 400, 'events'],
      [{ clientId: 'c1', events: [] }, 400, 'events'],
      [{ clientId: 'c1', events: [event(1), { seq: 2.5, ts: 0, data: 1 }] }, 400, 'events[1].seq'],
      [{ clientId: 'c1', events: [{ seq: -1, ts: 0, data: 1 }] }, 400, 'events[0].seq'],
      [{ clientId: 'c1', events: [{ seq: '1', ts: 0, data: 1 }] }, 400, 'events[0].seq'],
      [{ clientId: 'c1', events: [event(2), event(1)] }, 400, 'events[1].seq'],
      [{ clientId: 'c1', events: [event(1), event(1)] }, 400, 'events[1].seq'],
      [{ clientId: 'c1', events: [{ seq: 1, ts: 'x', data: 1 }] }, 400, 'events[0].ts'],
      [{ clientId: 'c1', events: [{ seq: 1, ts: 1 }] }, 400, 'events[0].data'],
      [{ clientId: 'c1', events: [event(1)], results: [{ key: {}, start: 0, end: 1, value: 1, pane: 0 }] }, 400, 'results[0].key'],
      [{ clientId: 'c1', events: [event(1)], pad: 'x'.repeat(20_000) }, 413, undefined],
    ];
    for (const [body, status, field] of cases) {
      const r = await post(handler, body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expect(r.body.error.field).toBe(field);
      expect(typeof r.body.error.message).toBe('string');
    }
    expect(log.stats().events).toBe(0);
  });

  it('refuses hostile client ids without echoing them, before touching the log', async () => {
    const { log, handler } = await setup();
    for (const id of ['../x', 'a.>', 'a b', '', 'x'.repeat(10_000), 'é']) {
      const r = await post(handler, { clientId: id, events: [event(1)] }, 'AAAA');
      expect(r.status).toBe(400);
      expect(r.body.error.field).toBe('clientId');
      expect(r.body.error.message.length).toBeLessThan(200);
    }
    expect(log.stats().events).toBe(0);
  });

  it('401 without a token, with a wrong one, and with another client\'s', async () => {
    const { log, handler } = await setup();
    const body = { clientId: 'c1', events: [event(1)] };
    const refusal = async (token: string | null) => {
      const res = await post(handler, body, token);
      return `${res.status} ${res.body.error.message}`;
    };
    expect(await refusal(null)).toMatch(/^401 missing `Authorization: Bearer <token>`/);
    expect(await refusal('not-a-token')).toMatch(/^401 this is not a Tidemark token/);
    const own = await tokenFor(secret, 'c1');
    expect(await refusal(`${own.slice(0, 43)}`)).toMatch(/^401 this is not a Tidemark token/); // the key id cut off
    // Each says which fix applies: the secret differs (with both key ids), or the token is another client's.
    const other = await tokenFor('another secret, long enough', 'c1');
    expect(await refusal(other)).toBe(
      `401 the token was signed with another secret than this server's (the token's key id is ${other.slice(44)}, the server's ${own.slice(44)}): ` +
        "issue tokens with the server's secret, e.g. `npx tidemark token <clientId> --data <the server's --data directory>`",
    );
    expect(await refusal(await tokenFor(secret, 'c2'))).toMatch(/^401 the token is not valid for this clientId: it was issued to another client/);
    // A MAC of another secret under this server's key id is still refused (the id is a name, not a credential).
    expect(await refusal(`${other.slice(0, 43)}.${own.slice(44)}`)).toMatch(/^401 the token is not valid for this clientId/);
    expect(log.stats().events).toBe(0);
    expect((await post(handler, body)).status).toBe(200);
  });

  it('429 with Retry-After over the per-client rate; other clients unaffected; refills with time', async () => {
    const { log, handler, tick } = await setup({ rate: { eventsPerSecond: 10, burst: 5 } });
    expect((await post(handler, { clientId: 'c1', events: [1, 2, 3, 4].map((s) => event(s)) })).status).toBe(200);
    const r = await post(handler, { clientId: 'c1', events: [5, 6].map((s) => event(s)) });
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('1');
    expect((await post(handler, { clientId: 'c2', events: [event(1)] }, undefined, 'c2')).status).toBe(200);
    expect(log.stats().events).toBe(5);
    tick(1000);
    expect((await post(handler, { clientId: 'c1', events: [5, 6].map((s) => event(s)) })).status).toBe(200);
  });

  it('503 with Retry-After when the log fails, 404 and 405 for other routes', async () => {
    const log = memoryLog();
    const handler = await createHandler({ log, secret });
    await log.close();
    const r = await post(handler, { clientId: 'c1', events: [event(1)] });
    expect(r.status).toBe(500); // a closed log is a programming error, not storage: 500
    const h2 = await createHandler({
      secret,
      log: { ...memoryLog(), append: async () => { throw new StorageError('disk full'); } },
    });
    const r2 = await post(h2, { clientId: 'c1', events: [event(1)] });
    expect(r2.status).toBe(503);
    expect(r2.headers.get('retry-after')).toBe('1');
    expect((await handler(new Request(`${base}/v2/ingest`, { method: 'POST' }))).status).toBe(404);
    expect((await handler(new Request(`${base}/v1/ingest`))).status).toBe(405);
  });

  it('rejects invalid options eagerly', async () => {
    await expect(createHandler({ log: memoryLog(), secret: 'short' })).rejects.toThrow(/at least 16 bytes/);
    await expect(createHandler({ log: {} as EventLog, secret })).rejects.toThrow(/EventLog/);
    await expect(createHandler({ log: memoryLog(), secret, maxBodyBytes: 0 })).rejects.toThrow(/maxBodyBytes/);
  });
});

describe('GET /v1/corrections', () => {
  it('serves only the token\'s client, from the cursor', async () => {
    const all = [
      { cursor: 1, key: 'a', start: 0, end: 10, speed: 1, batch: 2, at: 5 },
      { cursor: 2, key: 'b', start: 0, end: 10, speed: null, batch: 3, at: 5 },
    ];
    const { handler } = await setup({
      corrections: { since: (clientId, after) => ({ corrections: clientId === 'c1' ? all.filter((c) => c.cursor > after) : [], cursor: 2 }) },
    });
    const get = async (query: string, token: string) =>
      handler(new Request(`${base}/v1/corrections?${query}`, { headers: { authorization: `Bearer ${token}` } }));
    const t1 = await tokenFor(secret, 'c1');
    let res = await get('clientId=c1&after=1', t1);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ corrections: [all[1]], cursor: 2 });
    res = await get('clientId=c2&after=0', t1);
    expect(res.status).toBe(401);
    res = await get('clientId=c1&after=-1', t1);
    expect(res.status).toBe(400);
    res = await get('clientId=../x', t1);
    expect(res.status).toBe(400);
  });
});

describe('GET /metrics and the Node adapter', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => close?.());

  it('serves over HTTP: ingest, a 413 for a huge streamed body, and Prometheus metrics', async () => {
    const { handler } = await setup({ maxBodyBytes: 64 * 1024 });
    const server = await listen(handler, { port: 0 });
    close = server.close;
    const token = await tokenFor(secret, 'c1');
    const send = (body: string) =>
      fetch(`${server.url}/v1/ingest`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body });
    let res = await send(JSON.stringify({ clientId: 'c1', events: [event(1), event(2)] }));
    expect(res.status).toBe(200);
    res = await send(JSON.stringify({ clientId: 'c1', events: [event(1), event(2), event(3)] }));
    expect(await res.json()).toMatchObject({ appended: 1, duplicates: 2 });
    res = await send('x'.repeat(10 * 1024 * 1024));
    expect(res.status).toBe(413);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/^tidemark_events_appended_total 3$/m);
    expect(text).toMatch(/^tidemark_events_duplicate_total 2$/m);
    expect(text).toMatch(/^tidemark_log_events 3$/m);
    expect(text).toMatch(/^tidemark_requests_total\{status="413"\} 1$/m);
    expect(text).toMatch(/^tidemark_client_lag_seconds\{client="c1"\} /m);
    expect(await promtoolProblems(text)).toBe('');
    const pre = await fetch(`${server.url}/v1/ingest`, { method: 'OPTIONS' });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-headers')).toContain('authorization');
  });
});
