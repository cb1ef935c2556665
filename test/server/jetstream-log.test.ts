// The JetStream log against a real nats-server (test/server/nats.ts starts one).
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InvalidOptionError, ProtocolError, RuntimeClosedError, StorageError } from '../../src/errors.js';
import type { WireEvent } from '../../src/protocol/wire.js';
import { type JetStreamLog, type JetStreamLogOptions, jetStreamLog, type LoggedEvent } from '../../src/server/index.js';
import { virtualClock } from '../../src/testing/index.js';
import { freePort, type NatsServer, startNatsServer } from './nats.js';

let nats: NatsServer;
beforeAll(async () => {
  nats = await startNatsServer();
}, 30_000);
afterAll(async () => {
  await nats?.stop();
});

// Every test works in its own stream and subject prefix, and closes its logs.
let n = 0;
let opened: JetStreamLog[] = [];
afterEach(async () => {
  await Promise.allSettled(opened.map((l) => l.close()));
  opened = [];
});
function fresh(): { stream: string; subjectPrefix: string } {
  n++;
  return { stream: `T${n}`, subjectPrefix: `t${n}` };
}
async function open(where: { stream: string; subjectPrefix: string }, options: Partial<JetStreamLogOptions> = {}) {
  const log = await jetStreamLog({ servers: nats.url, refreshMs: 0, ...where, ...options });
  opened.push(log);
  return log;
}

/** Events `from..to`, about 60 bytes of JSON each. */
function ev(from: number, to: number): WireEvent[] {
  const out: WireEvent[] = [];
  for (let seq = from; seq <= to; seq++)
    out.push({ seq, ts: 1_700_000_000_000 + seq, data: { page: '/products/p', ms: seq % 997, ok: true } });
  return out;
}
const seqs = (events: readonly { seq: number }[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function readAll(log: JetStreamLog, clientId?: string): Promise<LoggedEvent[]> {
  const out: LoggedEvent[] = [];
  for await (const chunk of log.read(clientId === undefined ? {} : { clientId })) out.push(...chunk);
  return out;
}

/** Every (clientId, seq) read, checked to appear once: client → its sequence numbers in read order. */
function bySeq(events: readonly LoggedEvent[]): Map<string, number[]> {
  const seen = new Set<string>();
  const out = new Map<string, number[]>();
  for (const e of events) {
    const key = `${e.clientId}:${e.seq}`;
    expect(seen.has(key), `${key} read twice`).toBe(false);
    seen.add(key);
    let list = out.get(e.clientId);
    if (!list) out.set(e.clientId, (list = []));
    list.push(e.seq);
  }
  return out;
}

async function streamInfo(stream: string) {
  const nc = await connect({ servers: nats.url });
  try {
    return await (await jetstreamManager(nc)).streams.info(stream);
  } finally {
    await nc.close();
  }
}

describe('jetStreamLog: appends', () => {
  it('appends once: replays are acknowledged, not appended', async () => {
    const where = fresh();
    const log = await open(where);
    expect(await log.append('c1', ev(1, 100), 5)).toEqual({ appended: 100, duplicates: 0, ackedThrough: 100, gaps: [] });
    expect(await log.append('c1', ev(1, 100), 6)).toEqual({ appended: 0, duplicates: 100, ackedThrough: 100, gaps: [] });
    expect(await log.append('c1', ev(51, 150), 7)).toEqual({ appended: 50, duplicates: 50, ackedThrough: 150, gaps: [] });
    expect(await log.append('c1', [], 8)).toEqual({ appended: 0, duplicates: 0, ackedThrough: 150, gaps: [] });
    const read = await readAll(log);
    expect(seqs(read)).toEqual(range(1, 150));
    expect(read[0]).toEqual({
      clientId: 'c1',
      seq: 1,
      ts: 1_700_000_000_001,
      receivedAt: 5,
      data: { page: '/products/p', ms: 1, ok: true },
    });
    expect(read[120]!.receivedAt).toBe(7);
    expect(await readAll(log, 'nobody')).toEqual([]);
    expect(log.stats()).toMatchObject({ events: 150, clients: 1 });
    expect(log.stats().bytes).toBeGreaterThan(150 * 30);
    // One message per append that had something new; replays publish nothing.
    expect((await streamInfo(where.stream)).state.messages).toBe(2);
  });

  it('reports a gap for a batch that arrives early, and closes it when the missing batch comes', async () => {
    const log = await open(fresh());
    expect(await log.append('c1', ev(51, 100), 1)).toEqual({ appended: 50, duplicates: 0, ackedThrough: 0, gaps: [[1, 50]] });
    expect(await log.append('c1', ev(201, 210), 1)).toEqual({
      appended: 10,
      duplicates: 0,
      ackedThrough: 0,
      gaps: [
        [1, 50],
        [101, 200],
      ],
    });
    expect(log.clients()).toEqual([{ clientId: 'c1', ackedThrough: 0, highest: 210, events: 60, missing: 150 }]);
    expect(await log.append('c1', ev(1, 60), 2)).toEqual({ appended: 50, duplicates: 10, ackedThrough: 100, gaps: [[101, 200]] });
    expect(await log.append('c1', ev(90, 220), 3)).toEqual({ appended: 110, duplicates: 21, ackedThrough: 220, gaps: [] });
    // Read in append order: every event once.
    const read = await readAll(log, 'c1');
    expect(seqs(read)).toEqual([...range(51, 100), ...range(201, 210), ...range(1, 50), ...range(101, 200), ...range(211, 220)]);
  });

  it('splits a batch larger than max_payload (1 MB) over several messages, and reads it back whole', async () => {
    const where = fresh();
    const log = await open(where);
    const events = ev(1, 40_000); // ~2.3 MB of JSON
    expect(await log.append('big', events, 1)).toMatchObject({ appended: 40_000, ackedThrough: 40_000 });
    const info = await streamInfo(where.stream);
    expect(info.state.messages).toBeGreaterThanOrEqual(3);
    expect(info.state.messages).toBeLessThanOrEqual(4);
    expect(seqs(await readAll(log))).toEqual(range(1, 40_000));
    expect(await log.append('big', events, 2)).toMatchObject({ appended: 0, duplicates: 40_000 });
  });

  it('splits by maxMessageBytes, keeping each message under it', async () => {
    const where = fresh();
    const log = await open(where, { maxMessageBytes: 16 * 1024 });
    expect(await log.append('c1', ev(1, 3_000), 1)).toMatchObject({ appended: 3_000, ackedThrough: 3_000 });
    const info = await streamInfo(where.stream);
    expect(info.state.messages).toBeGreaterThan(10);
    expect(seqs(await readAll(log))).toEqual(range(1, 3_000));
    // An event that fits in no message is refused as too large, and nothing of its batch is stored.
    const huge = [{ seq: 3_001, ts: 0, data: 'x'.repeat(20_000) }];
    await expect(log.append('c1', huge, 1)).rejects.toThrow(ProtocolError);
    await expect(log.append('c1', huge, 1)).rejects.toMatchObject({ status: 413 });
  });

  it('lists clients in the order they first appeared', async () => {
    const where = fresh();
    const log = await open(where);
    for (const id of ['b', 'a', 'c']) await log.append(id, ev(1, 2), 1);
    await log.append('a', ev(3, 3), 1);
    expect(log.clients().map((c) => c.clientId)).toEqual(['b', 'a', 'c']);
    const again = await open(where);
    expect(again.clients().map((c) => c.clientId)).toEqual(['b', 'a', 'c']);
  });

  it('refuses a client id that could leave its subject, and unordered sequence numbers', async () => {
    const log = await open(fresh());
    for (const id of ['a.b', 'a*', '>', '', 'x'.repeat(129), 'a b'])
      await expect(log.append(id, ev(1, 1), 1)).rejects.toThrow(ProtocolError);
    await expect(log.append('c1', [...ev(2, 2), ...ev(1, 1)], 1)).rejects.toThrow(/strictly increasing/);
    // Stored, NaN would read back as null: refused like the file log refuses it.
    await expect(log.append('c1', [{ seq: 1, ts: Number.NaN, data: 1 }], 1)).rejects.toThrow(/events\[0\]\.ts/);
    await expect(readAll(log, 'a.>')).rejects.toThrow(ProtocolError);
  });
});

describe('jetStreamLog: several processes', () => {
  it('two logs with their own connections appending the same batches at once store every event exactly once', async () => {
    const where = fresh();
    const a = await open(where);
    const b = await open(where);
    const clients = ['c0', 'c1', 'c2', 'c3'];
    const N = 2_000;
    // A sends batches of 100 in order; B sends overlapping batches of 150
    // shifted by 50, then everything again in reverse: most events are
    // offered by both, concurrently.
    const appended = { a: 0, b: 0 };
    const send = async (log: JetStreamLog, who: 'a' | 'b', id: string, batches: [number, number][], at: number) => {
      for (const [from, to] of batches) {
        const out = await log.append(id, ev(from, to), at);
        appended[who] += out.appended;
      }
    };
    const batches = (from: number, size: number, step: number) => {
      const out: [number, number][] = [];
      for (let s = from; s <= N; s += step) out.push([s, Math.min(N, s + size - 1)]);
      return out;
    };
    await Promise.all(
      clients.flatMap((id) => [
        send(a, 'a', id, batches(1, 100, 100), 1),
        send(b, 'b', id, [...batches(51, 150, 150), ...batches(1, 100, 100).reverse()], 2),
        // A second writer inside `a` for the same client: serialized with the first.
        send(a, 'a', id, batches(1, 500, 500), 3),
      ]),
    );
    // Each log offered every event, so the one that did not store an event
    // learned from the stream (a conflict) that the other one had.
    expect(appended.a + appended.b).toBe(clients.length * N);
    const read = await readAll(a);
    expect(read.length).toBe(clients.length * N);
    const got = bySeq(read);
    for (const id of clients) expect([...got.get(id)!].sort((x, y) => x - y)).toEqual(range(1, N));
    await Promise.all([a.refresh(), b.refresh()]);
    for (const log of [a, b]) {
      expect(log.clients().map((c) => c.clientId).sort()).toEqual(clients);
      for (const c of log.clients()) expect(c).toMatchObject({ ackedThrough: N, highest: N, events: N, missing: 0 });
      expect(log.stats()).toMatchObject({ events: clients.length * N, clients: clients.length });
    }
  });

  it('two processes opening the same new stream at once both bind to it', async () => {
    const where = fresh();
    const [a, b] = await Promise.all([open(where), open(where)]);
    await a.append('c1', ev(1, 5), 1);
    expect(await b.append('c1', ev(1, 6), 1)).toMatchObject({ appended: 1, duplicates: 5 });
  });

  it('refreshes on its own every refreshMs', async () => {
    const where = fresh();
    const a = await open(where);
    const b = await open(where, { refreshMs: 50 });
    await a.append('c1', ev(1, 7), 1);
    await expect.poll(() => b.clients(), { timeout: 5_000 }).toEqual([
      { clientId: 'c1', ackedThrough: 7, highest: 7, events: 7, missing: 0 },
    ]);
  });

  it('refreshes on the clock it is given: nothing before refreshMs of its time, then what another process appended', async () => {
    const where = fresh();
    const clock = virtualClock(0);
    const a = await open(where);
    const b = await open(where, { refreshMs: 60_000, clock });
    await a.append('c1', ev(1, 7), 1);
    await clock.advance(59_999);
    await new Promise((r) => setTimeout(r, 200)); // a refresh started now would have ended by then
    expect(b.clients()).toEqual([]);
    await clock.advance(1);
    await expect.poll(() => b.clients(), { timeout: 5_000 }).toEqual([
      { clientId: 'c1', ackedThrough: 7, highest: 7, events: 7, missing: 0 },
    ]);
  });

  it('refuses a clock that is not one', async () => {
    await expect(jetStreamLog({ servers: nats.url, clock: { now: () => 0 } as never })).rejects.toThrow(/jetStreamLog\.clock\.timeout.*systemClock/);
  });

  it('picks up what another process appended, on refresh and on its next append', async () => {
    const where = fresh();
    const a = await open(where);
    const b = await open(where);
    await a.append('c1', ev(1, 10), 1);
    await a.append('c2', ev(1, 5), 1);
    expect(b.clients()).toEqual([]);
    // b does not know, but its append conflicts, reads c1's coverage and appends only the rest.
    expect(await b.append('c1', ev(1, 20), 2)).toEqual({ appended: 10, duplicates: 10, ackedThrough: 20, gaps: [] });
    await b.refresh();
    expect(b.clients().map((c) => [c.clientId, c.ackedThrough])).toEqual([
      ['c1', 20],
      ['c2', 5],
    ]);
    await a.refresh();
    expect(a.clients().map((c) => [c.clientId, c.ackedThrough])).toEqual([
      ['c1', 20],
      ['c2', 5],
    ]);
  });
});

describe('jetStreamLog: reopening', () => {
  it('a new log rebuilds every client’s coverage, gaps included, and reads every event once', async () => {
    const where = fresh();
    const first = await open(where);
    await first.append('c1', ev(1, 300), 1);
    await first.append('c2', ev(11, 20), 1);
    await first.append('c2', ev(31, 40), 1);
    await first.close();
    const log = await open(where);
    expect(log.clients()).toEqual([
      { clientId: 'c1', ackedThrough: 300, highest: 300, events: 300, missing: 0 },
      { clientId: 'c2', ackedThrough: 0, highest: 40, events: 20, missing: 20 },
    ]);
    expect(log.stats()).toMatchObject({ events: 320, clients: 2 });
    expect(await log.append('c2', ev(1, 40), 2)).toEqual({ appended: 20, duplicates: 20, ackedThrough: 40, gaps: [] });
    const got = bySeq(await readAll(log));
    expect(got.get('c1')).toEqual(range(1, 300));
    expect(got.get('c2')!.length).toBe(40);
  });

  it('rebuilds a client with too many gaps for the coverage header by scanning its messages', async () => {
    const where = fresh();
    const first = await open(where);
    const odd = ev(1, 3_999).filter((e) => e.seq % 2 === 1); // 1,999 ranges above a gap
    await first.append('holes', odd, 1);
    await first.append('holes', ev(5_000, 5_001), 1);
    await first.close();
    const log = await open(where);
    expect(log.clients()).toEqual([{ clientId: 'holes', ackedThrough: 1, highest: 5_001, events: 2_002, missing: 2_999 }]);
    expect(await log.append('holes', ev(1, 5_001), 2)).toMatchObject({ appended: 2_999, duplicates: 2_002, ackedThrough: 5_001 });
    expect(bySeq(await readAll(log)).get('holes')!.length).toBe(5_001);
  });

  it('binds to an existing stream whose subjects capture the log’s, and refuses one that does not fit', async () => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'WIDE', subjects: ['wide.>'], storage: StorageType.File });
      await open({ stream: 'WIDE', subjectPrefix: 'wide' });
      await open({ stream: 'WIDE', subjectPrefix: 'wide.x' });
      await expect(open({ stream: 'WIDE', subjectPrefix: 'other' })).rejects.toThrow(
        /stream "WIDE" exists with subjects \["wide\.>"\], which do not capture other\.events\.\*/,
      );
      await jsm.streams.add({ name: 'MEM', subjects: ['mem.events.*'], storage: StorageType.Memory });
      await expect(open({ stream: 'MEM', subjectPrefix: 'mem' })).rejects.toThrow(InvalidOptionError);
      await expect(open({ stream: 'MEM', subjectPrefix: 'mem' })).rejects.toThrow(/in memory/);
      // A new stream over subjects another stream captures cannot be created.
      await expect(open({ stream: 'OVERLAP', subjectPrefix: 'wide' })).rejects.toThrow(/could not create stream "OVERLAP"/);
    } finally {
      await nc.close();
    }
  });
});

describe('jetStreamLog: options, failures and close', () => {
  it.each([
    [{}, /jetStreamLog\.servers: expected a NATS URL/],
    [{ servers: [] }, /jetStreamLog\.servers/],
    [{ servers: 'nats://x', stream: 'a.b' }, /jetStreamLog\.stream: must be 1-200 characters/],
    [{ servers: 'nats://x', subjectPrefix: 'a.*' }, /jetStreamLog\.subjectPrefix: must be dot-separated tokens/],
    [{ servers: 'nats://x', subjectPrefix: 'a..b' }, /jetStreamLog\.subjectPrefix/],
    [{ servers: 'nats://x', timeoutMs: 0 }, /jetStreamLog\.timeoutMs/],
    [{ servers: 'nats://x', refreshMs: -1 }, /jetStreamLog\.refreshMs/],
    [{ servers: 'nats://x', maxMessageBytes: 100 }, /jetStreamLog\.maxMessageBytes: must be at least/],
    [{ servers: 'nats://x', subject: 'a' }, /jetStreamLog\.subject: unknown option/],
  ])('refuses %j', async (options, message) => {
    await expect(jetStreamLog(options as never)).rejects.toThrow(InvalidOptionError);
    await expect(jetStreamLog(options as never)).rejects.toThrow(message);
  });

  it('rejects with a StorageError when no NATS server listens', async () => {
    const port = await freePort();
    const err = await jetStreamLog({ servers: `nats://127.0.0.1:${port}`, timeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toMatch(/could not connect to NATS at nats:\/\/127\.0\.0\.1:\d+ .*is nats-server running/);
  });

  it('close() releases the connection; later calls reject', async () => {
    const log = await open(fresh());
    await log.append('c1', ev(1, 3), 1);
    const pending = log.append('c1', ev(4, 6), 1);
    await log.close();
    expect((await pending).ackedThrough).toBe(6); // close waits for appends in flight
    await expect(log.append('c1', ev(7, 7), 1)).rejects.toThrow(RuntimeClosedError);
    await expect(readAll(log)).rejects.toThrow(RuntimeClosedError);
    await log.close();
    expect(log.clients()).toEqual([expect.objectContaining({ clientId: 'c1', ackedThrough: 6 })]);
  });
});

describe('jetStreamLog: nats-server restarts', () => {
  it('keeps the data; appends during the outage reject at once with a StorageError, then work again', async () => {
    const server = await startNatsServer();
    try {
      const where = { stream: 'RESTART', subjectPrefix: 'restart' };
      const log = await jetStreamLog({
        servers: server.url,
        ...where,
        refreshMs: 0,
        timeoutMs: 2_000,
        connection: { reconnectTimeWait: 100 },
      });
      opened.push(log);
      await log.append('c1', ev(1, 100), 1);
      const other = await jetStreamLog({ servers: server.url, ...where, refreshMs: 0, timeoutMs: 2_000 });
      await server.kill();
      // close() does not hang while the server is away.
      const closing = Date.now();
      await other.close();
      expect(Date.now() - closing).toBeLessThan(2_500);
      const started = Date.now();
      const err = await log.append('c1', ev(101, 200), 2).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toMatch(/NATS|JetStream/);
      expect(Date.now() - started).toBeLessThan(2_500);
      await server.start();
      // Retry as an uploader would, until the reconnection and JetStream's recovery are done.
      let out;
      const deadline = Date.now() + 20_000;
      for (;;) {
        try {
          out = await log.append('c1', ev(101, 200), 3);
          break;
        } catch (e) {
          expect(e).toBeInstanceOf(StorageError);
          if (Date.now() > deadline) throw e;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(out).toEqual({ appended: 100, duplicates: 0, ackedThrough: 200, gaps: [] });
      expect(seqs(await readAll(log))).toEqual(range(1, 200));
      const reopened = await jetStreamLog({ servers: server.url, ...where, refreshMs: 0 });
      opened.push(reopened);
      expect(reopened.clients()).toEqual([{ clientId: 'c1', ackedThrough: 200, highest: 200, events: 200, missing: 0 }]);
    } finally {
      await Promise.allSettled(opened.map((l) => l.close()));
      opened = [];
      await server.stop();
    }
  });
});
