/**
 * A {@link DurableObjectStorageLike} in memory, with the same semantics the
 * edge store relies on (sorted `list`, atomic multi-key `put`, all-or-nothing
 * `transaction`, values copied in and out), so the edge runtime runs in
 * Node tests without workerd. Nothing survives the object.
 *
 * @module
 */
import type { DurableObjectStorageLike, DurableObjectTransactionLike } from './durable-object-store.js';

/**
 * Creates an in-memory stand-in for a Durable Object's storage. Pass it to
 * `openDurableObjectStore` to get an in-memory edge store; keep it to
 * "restart" a store over the same data.
 *
 * @example
 * ```ts
 * import { memoryStorage, openDurableObjectStore } from 'tidemark/edge';
 * const storage = memoryStorage();
 * const store = await openDurableObjectStore(storage);
 * await store.append([{ clientId: 'c1', events: [{ seq: 1, ts: 0, data: 'a' }], receivedAt: 0 }]);
 * console.log((await openDurableObjectStore(storage)).lastSeq()); // 1
 * ```
 */
export function memoryStorage(): DurableObjectStorageLike {
  const data = new Map<string, unknown>();
  let alarm: number | null = null;
  const sorted = () => [...data.keys()].sort();
  const apply = (entries: Record<string, unknown>, into: Map<string, unknown>) => {
    for (const [k, v] of Object.entries(entries)) into.set(k, structuredClone(v));
  };
  return {
    async get(keys) {
      const out = new Map<string, unknown>();
      for (const k of keys) if (data.has(k)) out.set(k, structuredClone(data.get(k)));
      return out;
    },
    async put(entries) {
      apply(entries, data);
    },
    async delete(keys) {
      let n = 0;
      for (const k of keys) if (data.delete(k)) n++;
      return n;
    },
    async list({ prefix = '', start, end, limit = Infinity } = {}) {
      const out = new Map<string, unknown>();
      for (const k of sorted()) {
        if (out.size >= limit) break;
        if (!k.startsWith(prefix) || (start !== undefined && k < start) || (end !== undefined && k >= end)) continue;
        out.set(k, structuredClone(data.get(k)));
      }
      return out;
    },
    async transaction(closure) {
      const puts = new Map<string, unknown>();
      const deletes = new Set<string>();
      const txn: DurableObjectTransactionLike = {
        async put(entries) {
          for (const k of Object.keys(entries)) deletes.delete(k);
          apply(entries, puts);
        },
        async delete(keys) {
          for (const k of keys) {
            puts.delete(k);
            deletes.add(k);
          }
          return keys.length;
        },
      };
      const result = await closure(txn); // a throw leaves `data` untouched
      for (const k of deletes) data.delete(k);
      for (const [k, v] of puts) data.set(k, v);
      return result;
    },
    async getAlarm() {
      return alarm;
    },
    async setAlarm(at) {
      alarm = at;
    },
  };
}
