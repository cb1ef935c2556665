// Forwarding upstream (src/edge/forward.ts) against a stub fetch: what each
// upstream answer means for the outbox, as docs/edge.md ("What you can rely
// on", 3) says.
import { describe, expect, it } from 'vitest';
import { upstreamSender } from '../../src/edge/forward.js';
import { memoryStorage, openDurableObjectStore } from '../../src/edge/index.js';
import { type ForwardBatch, type ForwardOutcome, PartitionRunner } from '../../src/edge/partition.js';
import { signingKey, tokenFor } from '../../src/protocol/tokens.js';
import { virtualClock } from '../../src/testing/index.js';
import { NOW, RETRY_AFTER_TABLE, STATUS_TABLE } from '../protocol/status-table.js';

const secret = 'forward test secret, long enough';
const batch = (clientId: string): ForwardBatch => ({ clientId, records: [], events: 1, body: `{"clientId":"${clientId}","events":[]}` });

async function sender(answer: () => Response | Promise<Response>, now = NOW) {
  const calls: { url: string; init: RequestInit }[] = [];
  const send = upstreamSender({
    upstream: 'https://up.example/',
    key: await signingKey(secret),
    timeoutMs: 1_000,
    clock: virtualClock(now),
    fetch: (async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      return answer();
    }) as typeof fetch,
  });
  return { send, calls };
}

describe('upstreamSender', () => {
  it('posts the batch body to /v1/ingest as its client, with that client’s token', async () => {
    const { send, calls } = await sender(() => new Response('{}', { status: 200 }));
    expect(await send(batch('c1'))).toEqual({ kind: 'acked' });
    await send(batch('c1'));
    expect(calls.map((c) => c.url)).toEqual(['https://up.example/v1/ingest', 'https://up.example/v1/ingest']);
    expect(calls[0]!.init.body).toBe(batch('c1').body);
    expect((calls[0]!.init.headers as Record<string, string>).authorization).toBe(`Bearer ${await tokenFor(secret, 'c1')}`);
  });

  const kinds = { delivered: 'acked', retry: 'retry', pause: 'pause', refuse: 'refused' } as const;
  const answer = (status: number, headers: Record<string, string> = {}) =>
    status === 0
      ? Promise.reject(new TypeError('connection refused'))
      : new Response(status === 204 || status === 304 ? null : status < 300 ? '{}' : 'no', { status, headers });

  it.each(STATUS_TABLE)('the protocol table (test/protocol/status-table.ts): $status → $decision', async ({ status, decision }) => {
    const { send } = await sender(() => answer(status));
    const out = await send(batch('c1'));
    expect(out.kind).toBe(kinds[decision]);
    if (out.kind === 'refused') expect(out).toEqual({ kind: 'refused', status, reason: expect.stringContaining(`answered ${status}: no`) });
    if (out.kind === 'retry' || out.kind === 'pause')
      expect(out.reason).toContain(status === 0 ? 'https://up.example/v1/ingest: TypeError: connection refused' : `answered ${status}`);
  });

  it.each(RETRY_AFTER_TABLE)('Retry-After $header → $ms (the same table)', async ({ header, ms }) => {
    const { send } = await sender(() => answer(503, header === null ? {} : { 'retry-after': header }), NOW);
    const out = await send(batch('c1'));
    expect(out).toEqual(ms === undefined ? { kind: 'retry', reason: expect.any(String) } : { kind: 'retry', reason: expect.any(String), afterMs: ms });
  });

  it('a 200 that is not JSON did not come from Tidemark (a proxy, a captive portal): retried, not acknowledged', async () => {
    const { send } = await sender(() => new Response('<html>Sign in</html>', { status: 200 }));
    expect(await send(batch('c1'))).toMatchObject({ kind: 'retry', reason: expect.stringContaining('not JSON') });
  });

  it('a request with no answer times out on the clock', async () => {
    const clock = virtualClock(NOW);
    let asked: () => void;
    const fetching = new Promise<void>((resolve) => (asked = resolve));
    const send = upstreamSender({
      upstream: 'https://up.example',
      key: await signingKey(secret),
      timeoutMs: 1_000,
      clock,
      fetch: ((_url: string, init: RequestInit) => {
        asked();
        return new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)));
      }) as typeof fetch,
    });
    let out: ForwardOutcome | undefined;
    void send(batch('c1')).then((o) => (out = o));
    await fetching; // the token is signed first (WebCrypto, real time)
    await clock.advance(999);
    expect(out).toBeUndefined();
    await clock.advance(1);
    expect(out).toEqual({ kind: 'retry', reason: 'https://up.example/v1/ingest: TimeoutError: no answer within 1000 ms' });
  });

  it.each(STATUS_TABLE)('the partition acts on $status as the table says ($decision)', async ({ status, decision }) => {
    const store = await openDurableObjectStore(memoryStorage());
    const settings = { checkpointEveryEvents: 100, viewMaxWindows: 100, minBackoffMs: 100, maxBackoffMs: 1_000, maxRecordsPerAlarm: 10, now: () => NOW, random: () => 0.5 };
    const runner = await PartitionRunner.open(store, (events$) => events$, settings);
    await runner.ingest('c1', [{ seq: 1, ts: 0, data: {} }], NOW);
    const { send } = await sender(() => answer(status));
    const next = await runner.forward(send);
    const { forwarded, trouble } = await runner.results();
    // random() is 0.5: half the first ceiling (100 ms) after retry; 500 + 0.5 · 500 after pause.
    expect({ next, forwarded }).toEqual(
      { delivered: { next: undefined, forwarded: 1 }, refuse: { next: undefined, forwarded: 1 }, retry: { next: 50, forwarded: 0 }, pause: { next: 750, forwarded: 0 } }[decision],
    );
    expect(trouble.lastError?.startsWith('forward: refused for good, kept aside') ?? false).toBe(decision === 'refuse');
  });
});
