// The edge store's contract, as one suite run against every implementation:
// the in-memory storage (Node) and real Durable Object storage (workerd).
import { describe, expect, it } from 'vitest';
import type { EdgeCheckpoint, EdgeStore } from '../../src/edge/index.js';

/** An edge store with every method async (a remote one answers over HTTP). */
export type AsyncStore = { [K in keyof EdgeStore]: (...args: Parameters<EdgeStore[K]>) => Promise<Awaited<ReturnType<EdgeStore[K]>>> };

/** Opens a fresh store; `reopen` answers the same store's data as a restarted host would see it. */
export interface StoreHarness {
  open(): Promise<{ store: AsyncStore; reopen(): Promise<AsyncStore> }>;
}

const events = (from: number, to: number, pad = '') =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ seq: from + i, ts: (from + i) * 10, data: { n: from + i, pad } }));
const snapshot = (marker: string) => ({ format: 'tidemark.snapshot', version: 1, operators: { [marker]: { kind: 'test', state: marker } } }) as never;

export function storeConformance(name: string, harness: StoreHarness, timeout = 30_000): void {
  describe(`edge store contract: ${name}`, () => {
    it('numbers appended events in order and refuses duplicates by (clientId, seq), answering like the server', async () => {
      const { store } = await harness.open();
      let [r] = await store.append([{ clientId: 'a', events: events(4, 6), receivedAt: 1 }]);
      expect(r!.outcome).toEqual({ appended: 3, duplicates: 0, ackedThrough: 0, gaps: [[1, 3]] });
      expect([r!.record!.seq, r!.record!.last]).toEqual([1, 3]);
      [r] = await store.append([{ clientId: 'a', events: events(1, 6), receivedAt: 2 }]);
      expect(r!.outcome).toEqual({ appended: 3, duplicates: 3, ackedThrough: 6, gaps: [] });
      expect(r!.record!.events.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect([r!.record!.seq, r!.record!.last]).toEqual([4, 6]);
      const rs = await store.append([
        { clientId: 'b', events: events(1, 2), receivedAt: 3 },
        { clientId: 'a', events: events(5, 7), receivedAt: 3 },
      ]);
      expect(rs.map((x) => x.outcome.appended)).toEqual([2, 1]);
      [r] = await store.append([{ clientId: 'a', events: events(1, 7), receivedAt: 4 }]);
      expect(r).toEqual({ outcome: { appended: 0, duplicates: 7, ackedThrough: 7, gaps: [] } });
      expect(await store.lastSeq()).toBe(9);
      const read = await store.readAfter(3, 100);
      expect(read.map((x) => [x.clientId, x.seq, x.last, x.receivedAt])).toEqual([['a', 4, 6, 2], ['b', 7, 8, 3], ['a', 9, 9, 3]]);
      expect(read[0]!.events).toEqual(events(1, 3));
      expect((await store.readAfter(0, 2)).map((x) => x.seq)).toEqual([1, 4]);
    }, timeout);

    it('keeps big batches and checkpoints whole (values over the per-value limit are chunked), and replaces a checkpoint atomically', async () => {
      const { store } = await harness.open();
      const big = events(1, 600, 'é'.repeat(500)); // ~330 k characters, two bytes each
      await store.append([{ clientId: 'big', events: big, receivedAt: 0 }]);
      expect((await store.readAfter(0, 10))[0]!.events).toEqual(big);
      expect(await store.loadCheckpoint()).toBeUndefined();
      const view = big.map((e) => ({ key: `k${e.seq}`, start: 0, end: 10, value: e.data, timing: 'on-time', pane: 0 }));
      const first: EdgeCheckpoint = { seq: 600, at: 5, snapshot: snapshot('big'), view };
      await store.writeCheckpoint(first);
      expect(await store.loadCheckpoint()).toEqual(first);
      const second: EdgeCheckpoint = { seq: 600, at: 6, snapshot: snapshot('small'), view: [] };
      await store.writeCheckpoint(second);
      expect(await store.loadCheckpoint()).toEqual(second);
    }, timeout);

    it('deletes a record only once it is both forwarded and checkpointed; a dead letter counts as forwarded', async () => {
      const { store } = await harness.open();
      for (const c of ['a', 'b', 'c']) await store.append([{ clientId: c, events: events(1, 10), receivedAt: 0 }]);
      expect(await store.records()).toBe(3);
      await store.ack(20);
      expect(await store.acked()).toBe(20);
      expect(await store.records()).toBe(3); // forwarded, not checkpointed
      await store.writeCheckpoint({ seq: 10, at: 0, snapshot: snapshot('x'), view: [] });
      expect(await store.records()).toBe(2);
      await store.writeCheckpoint({ seq: 30, at: 0, snapshot: snapshot('y'), view: [] });
      expect(await store.records()).toBe(1);
      await store.ack(10); // never moves back
      expect(await store.acked()).toBe(20);
      const [third] = await store.readAfter(20, 10);
      await store.deadLetter({ record: third!, status: 400, reason: 'refused' });
      expect(await store.acked()).toBe(30);
      expect(await store.records()).toBe(0);
    }, timeout);

    it('survives a restart: sequence, coverage, forwarded position, checkpoint and outbox', async () => {
      const { store, reopen } = await harness.open();
      await store.append([{ clientId: 'a', events: events(1, 5), receivedAt: 0 }]);
      await store.append([{ clientId: 'a', events: events(8, 9), receivedAt: 0 }]);
      await store.writeCheckpoint({ seq: 5, at: 1, snapshot: snapshot('r'), view: [{ k: 1 }] });
      await store.ack(5);
      await store.setAlarm(4_000_000_000_000);
      const again = await reopen();
      expect(await again.lastSeq()).toBe(7);
      expect(await again.acked()).toBe(5);
      expect((await again.loadCheckpoint())!.view).toEqual([{ k: 1 }]);
      expect((await again.readAfter(5, 10)).map((r) => r.events.map((e) => e.seq))).toEqual([[8, 9]]);
      const [r] = await again.append([{ clientId: 'a', events: events(1, 9), receivedAt: 0 }]);
      expect(r!.outcome).toEqual({ appended: 2, duplicates: 7, ackedThrough: 9, gaps: [] });
      expect(r!.record!.seq).toBe(8);
      expect(await again.alarm()).toBe(4_000_000_000_000);
    }, timeout);
  });
}
