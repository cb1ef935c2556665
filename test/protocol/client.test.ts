// The protocol's client policy (src/protocol/client.ts): the status table,
// Retry-After, backoff with jitter, the ingest body and reading answers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Answer,
  backoffDelay,
  classifyStatus,
  encodeEvents,
  IngestBody,
  noAnswer,
  parseRetryAfter,
  readAnswer,
  RETRY_AFTER_CAP_MS,
  wantsNewToken,
} from '../../src/protocol/client.js';
import { exchange } from '../../src/protocol/exchange.js';
import { parseIngest } from '../../src/protocol/validate.js';
import { virtualClock } from '../../src/testing/index.js';
import type { WireEvent } from '../../src/protocol/wire.js';
import { NOW, RETRY_AFTER_TABLE, STATUS_TABLE } from './status-table.js';

describe('classifyStatus', () => {
  it.each(STATUS_TABLE)('$status → $decision', ({ status, decision, newToken }) => {
    expect(classifyStatus(status)).toBe(decision);
    expect(wantsNewToken(status)).toBe(newToken);
  });

  it('never refuses an answer outside 4xx, and never pauses on a 5xx', () => {
    for (let status = 100; status <= 599; status++) {
      const d = classifyStatus(status);
      if (status < 400 || status > 499) expect(d, String(status)).not.toBe('refuse');
      if (status >= 500) expect(d, String(status)).toBe('retry');
    }
    expect(classifyStatus(Number.NaN)).toBe('pause');
  });
});

describe('parseRetryAfter', () => {
  it.each(RETRY_AFTER_TABLE)('$header → $ms', ({ header, ms }) => {
    expect(parseRetryAfter(header, NOW)).toBe(ms);
  });

  it('caps at the given ceiling', () => {
    expect(parseRetryAfter('600', NOW, 60_000)).toBe(60_000);
    expect(RETRY_AFTER_CAP_MS).toBe(3_600_000);
  });

  it('reads a two-digit RFC 850 year more than 50 years ahead as the past century', () => {
    const at = (year: number) => Date.UTC(year, 0, 1);
    const uncapped = (header: string, now: number) => parseRetryAfter(header, now, Number.POSITIVE_INFINITY);
    expect(uncapped('Wednesday, 01-Jan-75 00:00:00 GMT', at(2025))).toBe(at(2075) - at(2025)); // 50 years ahead: 2075
    expect(uncapped('Thursday, 01-Jan-76 00:00:00 GMT', at(2025))).toBe(0); // 51 ahead: 1976, in the past
    expect(uncapped('Saturday, 01-Jan-94 00:00:00 GMT', at(1993))).toBe(at(1994) - at(1993));
    expect(uncapped('Saturday, 01-Jan-00 00:00:00 GMT', at(1999))).toBe(at(2000) - at(1999));
  });

  it('takes a leap second as the first second of the next minute', () => {
    const now = Date.UTC(2016, 11, 31, 23, 59, 0);
    expect(parseRetryAfter('Sat, 31 Dec 2016 23:59:60 GMT', now)).toBe(60_000);
  });
});

describe('backoffDelay', () => {
  const policy = { minBackoffMs: 500, maxBackoffMs: 60_000 };

  it('retry: full jitter under min · 2^attempt, capped at max, never below Retry-After', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.option(fc.nat(RETRY_AFTER_CAP_MS), { nil: undefined }), (attempt, r, after) => {
        const ceiling = Math.min(policy.maxBackoffMs, policy.minBackoffMs * 2 ** Math.min(attempt, 60));
        const d = backoffDelay('retry', attempt, policy, () => r, after);
        expect(d).toBeGreaterThanOrEqual(after ?? 0);
        if (after === undefined) expect(d).toBeCloseTo(r * ceiling, 6);
        expect(Number.isFinite(d)).toBe(true);
      }),
    );
    expect([0, 1, 2, 3, 20].map((a) => backoffDelay('retry', a, policy, () => 0.999999))).toEqual(
      [500, 1_000, 2_000, 4_000, 60_000].map((c) => expect.closeTo(c * 0.999999, 3)),
    );
  });

  it('pause: between half of max and max whatever the attempt, never below Retry-After', () => {
    expect(backoffDelay('pause', 0, policy, () => 0)).toBe(30_000);
    expect(backoffDelay('pause', 9, policy, () => 0.5)).toBe(45_000);
    expect(backoffDelay('pause', 0, policy, () => 0, 3_600_000)).toBe(3_600_000);
  });
});

describe('IngestBody', () => {
  const wireEvent = fc.record({ seq: fc.integer({ min: 1, max: 1e9 }), ts: fc.integer({ min: -1e12, max: 1e13 }), data: fc.jsonValue() });

  it('knows its exact length at every step, and encodes a body the server accepts', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.array(fc.array(wireEvent, { minLength: 1, maxLength: 4 }), { maxLength: 6 }), fc.boolean(), (clientId, groups, withResults) => {
        const body = new IngestBody(clientId);
        expect(body.length).toBe(body.encode().length);
        let seq = 0;
        const sent: WireEvent[] = [];
        for (const group of groups) {
          const events = group.map((e) => ({ ...e, seq: ++seq }));
          const part = encodeEvents(events);
          const expected = body.lengthWith(part);
          body.add(part, events.length);
          sent.push(...events);
          expect(body.length).toBe(expected);
          expect(body.encode().length).toBe(expected);
        }
        const results = JSON.stringify([{ key: 'k', start: 0, end: 10, value: 1, pane: 0 }]);
        const text = withResults ? body.encode(results) : body.encode();
        if (withResults) expect(text.length).toBe(body.lengthWithResults(results));
        const parsed = JSON.parse(text) as { clientId: string; events: unknown[]; results?: unknown[] };
        expect(parsed).toEqual({ clientId, events: JSON.parse(JSON.stringify(sent)), ...(withResults ? { results: JSON.parse(results) } : {}) });
        expect(body.events).toBe(sent.length);
      }),
    );
    const body = new IngestBody('c1');
    body.add(encodeEvents([{ seq: 1, ts: 5, data: { a: 1 } }]), 1);
    expect(parseIngest(JSON.parse(body.encode())).events).toEqual([{ seq: 1, ts: 5, data: { a: 1 } }]);
  });
});

describe('readAnswer', () => {
  it('a 2xx: delivered with its JSON body (null when empty)', async () => {
    expect(await readAnswer(Response.json({ ackedThrough: 3 }), NOW)).toEqual({ status: 200, decision: 'delivered', message: '', body: { ackedThrough: 3 } });
    expect(await readAnswer(new Response(null, { status: 204 }), NOW)).toMatchObject({ decision: 'delivered', body: null });
  });

  it('a 2xx that is not JSON came from a proxy or a captive portal: retry, nothing is acknowledged', async () => {
    const answer = await readAnswer(new Response('<html><body>Sign in to the hotel wifi</body></html>', { status: 200 }), NOW);
    expect(answer).toMatchObject({ status: 200, decision: 'retry', message: expect.stringContaining('Sign in to the hotel wifi') });
  });

  it("an error: the server's message, or the status text and the body's start; Retry-After", async () => {
    const tidemark = new Response(JSON.stringify({ error: { name: 'ProtocolError', message: 'over the rate' } }), { status: 429, headers: { 'retry-after': '3' } });
    expect(await readAnswer(tidemark, NOW)).toEqual({ status: 429, decision: 'retry', message: 'over the rate', retryAfterMs: 3_000 });
    const proxy = new Response(`<h1>Bad   gateway</h1>${'x'.repeat(500)}`, { status: 502, statusText: 'Bad Gateway' });
    const answer = await readAnswer(proxy, NOW);
    expect(answer.message).toMatch(/^Bad Gateway: <h1>Bad gateway<\/h1>x+…$/);
    expect(answer.message.length).toBeLessThan(250);
    expect(await readAnswer(new Response(null, { status: 404 }), NOW)).toEqual({ status: 404, decision: 'pause', message: 'no message' });
  });

  it('a body cut off, or no answer at all: status 0, retry', async () => {
    const cut = new Response(new ReadableStream({ start: (c) => c.error(new TypeError('terminated')) }), { status: 200 });
    expect(await readAnswer(cut, NOW)).toEqual({ status: 0, decision: 'retry', message: 'TypeError: terminated' });
    expect(noAnswer(new DOMException('no answer within 10 ms', 'TimeoutError'))).toEqual({ status: 0, decision: 'retry', message: 'TimeoutError: no answer within 10 ms' });
  });
});

describe('exchange', () => {
  const hanging = ((_url: string, init: RequestInit) =>
    new Promise((_, reject) => init.signal!.addEventListener('abort', () => reject(init.signal!.reason)))) as typeof fetch;

  it('reads the answer with the clock of the call', async () => {
    const clock = virtualClock(NOW);
    const answer = await exchange('https://x.test/v1/ingest', { method: 'POST' }, {
      fetch: (async () => new Response('{}', { status: 503, headers: { 'retry-after': 'Wed, 01 Jan 2025 00:01:00 GMT' } })) as typeof fetch,
      clock,
      timeoutMs: 1_000,
    });
    expect(answer).toMatchObject({ status: 503, decision: 'retry', retryAfterMs: 60_000 });
    expect(clock.pending).toBe(0); // the time limit is cancelled
  });

  it("calls fetch unbound, as the platform's fetch needs (workerd and browsers throw 'Illegal invocation' otherwise)", async () => {
    const strict = function (this: unknown) {
      if (this !== undefined && this !== globalThis) throw new TypeError('Illegal invocation');
      return Promise.resolve(Response.json({ ackedThrough: 1 }));
    } as unknown as typeof fetch;
    const answer = await exchange('https://x.test/', {}, { fetch: strict, clock: virtualClock(NOW), timeoutMs: 1_000 });
    expect(answer.decision).toBe('delivered');
  });

  it('no answer within the time limit (virtual time): status 0, TimeoutError', async () => {
    const clock = virtualClock(NOW);
    let answer: Answer | undefined;
    void exchange('https://x.test/', {}, { fetch: hanging, clock, timeoutMs: 1_000 }).then((a) => (answer = a));
    await clock.advance(999);
    expect(answer).toBeUndefined();
    await clock.advance(1);
    expect(answer).toEqual({ status: 0, decision: 'retry', message: 'TimeoutError: no answer within 1000 ms' });
  });

  it('the caller’s signal aborts it early', async () => {
    const clock = virtualClock(NOW);
    const cut = new AbortController();
    const pending = exchange('https://x.test/', {}, { fetch: hanging, clock, timeoutMs: 1_000, signal: cut.signal });
    cut.abort(new DOMException('the network went away', 'AbortError'));
    expect(await pending).toEqual({ status: 0, decision: 'retry', message: 'AbortError: the network went away' });
    expect(clock.pending).toBe(0);
  });
});
