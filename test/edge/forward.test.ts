// Forwarding upstream (src/edge/forward.ts) against a stub fetch: what each
// upstream answer means for the outbox, as docs/edge.md ("What you can rely
// on", 3) says.
import { describe, expect, it } from 'vitest';
import { upstreamSender } from '../../src/edge/forward.js';
import type { ForwardBatch } from '../../src/edge/partition.js';
import { signingKey, tokenFor } from '../../src/protocol/tokens.js';

const secret = 'forward test secret, long enough';
const batch = (clientId: string): ForwardBatch => ({ clientId, records: [], events: 1, body: `{"clientId":"${clientId}","events":[]}` });

async function sender(answer: () => Response | Promise<Response>) {
  const calls: { url: string; init: RequestInit }[] = [];
  const send = upstreamSender({
    upstream: 'https://up.example/',
    key: await signingKey(secret),
    timeoutMs: 1_000,
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

  it('400 and 413 are refused for good (kept aside); 401, 404, 429 and 5xx are retried', async () => {
    for (const status of [400, 413]) {
      const { send } = await sender(() => new Response('no', { status }));
      expect(await send(batch('c1')), String(status)).toMatchObject({ kind: 'refused', status });
    }
    for (const status of [401, 403, 404, 408, 422, 429, 500, 503]) {
      const { send } = await sender(() => new Response('later', { status }));
      expect(await send(batch('c1')), String(status)).toEqual({ kind: 'retry', reason: expect.stringContaining(`answered ${status}`) });
    }
  });

  it('Retry-After (seconds) sets the wait; a network error is retried', async () => {
    const { send } = await sender(() => new Response('busy', { status: 503, headers: { 'retry-after': '7' } }));
    expect(await send(batch('c1'))).toMatchObject({ kind: 'retry', afterMs: 7_000 });
    const down = await sender(() => Promise.reject(new TypeError('connection refused')));
    expect(await down.send(batch('c1'))).toEqual({ kind: 'retry', reason: expect.stringContaining('connection refused') });
  });
});
