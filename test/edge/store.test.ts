// The edge store contract over the in-memory storage, in Node.
import { describe, expect, it } from 'vitest';
import { memoryStorage, openDurableObjectStore } from '../../src/edge/index.js';
import type { DurableObjectStorageLike } from '../../src/edge/index.js';
import { StorageError } from '../../src/errors.js';
import type { RuntimeStore } from '../../src/worker/outbox-store.js';
import type { CheckpointStore, EventStore } from '../../src/checkpoint/storage.js';
import { type AsyncStore, storeConformance } from './store-conformance.js';

const asAsync = (s: Awaited<ReturnType<typeof openDurableObjectStore>>): AsyncStore =>
  new Proxy(s, { get: (t, k) => (k === 'then' ? undefined : async (...a: unknown[]) => (t as any)[k](...a)) }) as unknown as AsyncStore;

storeConformance('in-memory storage', {
  async open() {
    const storage = memoryStorage();
    return { store: asAsync(await openDurableObjectStore(storage)), reopen: async () => asAsync(await openDurableObjectStore(storage)) };
  },
});

describe('edge store, in memory', () => {
  it('a failed write is a StorageError and changes nothing: the batch is not taken for a duplicate afterwards', async () => {
    const storage = memoryStorage();
    let fail = true;
    const flaky: DurableObjectStorageLike = {
      ...storage,
      put: (e) => (fail ? Promise.reject(new Error('disk on fire')) : storage.put(e)),
    };
    const store = await openDurableObjectStore(flaky);
    const batch = { clientId: 'a', events: [{ seq: 1, ts: 0, data: 1 }], receivedAt: 0 };
    await expect(store.append([batch])).rejects.toThrow(StorageError);
    await expect(store.append([batch])).rejects.toThrow(/append to the outbox: disk on fire/);
    fail = false;
    const [r] = await store.append([batch]);
    expect(r!.outcome.appended).toBe(1);
    expect(store.lastSeq()).toBe(1);
  });

  it('a smaller checkpoint deletes the chunks the bigger one left, also after a restart', async () => {
    const storage = memoryStorage();
    const snapshot = { format: 'tidemark.snapshot', version: 1, operators: {} } as never;
    const big = { seq: 1, at: 0, snapshot, view: Array.from({ length: 3 }, () => 'x'.repeat(70_000)) };
    const small = { seq: 2, at: 0, snapshot, view: [] };
    const chunkKeys = async () => [...(await storage.list({ prefix: 'k:' })).keys()];
    await (await openDurableObjectStore(storage)).writeCheckpoint(big);
    expect((await chunkKeys()).length).toBe(5); // k:0..k:3 and k:meta
    const store = await openDurableObjectStore(storage); // a restart: it knows the stored checkpoint's chunks
    await store.writeCheckpoint(small);
    expect(await chunkKeys()).toEqual(['k:0', 'k:meta']);
    await store.writeCheckpoint(big);
    await store.writeCheckpoint(small);
    expect(await chunkKeys()).toEqual(['k:0', 'k:meta']);
    expect(await store.loadCheckpoint()).toEqual(small);
  });

  it('the IndexedDB store (RuntimeStore) implements the same contract', () => {
    // Compile-time: these assignments fail to type-check if the contract drifts.
    type Ok<T extends true> = T;
    type IsOutbox = RuntimeStore extends EventStore<any, any, any, any> ? true : false;
    type IsCheckpoint = RuntimeStore extends CheckpointStore<any, any> ? true : false;
    const proof: [Ok<IsOutbox>, Ok<IsCheckpoint>] = [true, true];
    expect(proof).toEqual([true, true]);
  });
});
