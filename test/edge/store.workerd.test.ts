// The edge store contract against real Durable Object storage under workerd
// (miniflare); a restart is a new workerd process on the same persist directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll } from 'vitest';
import { type AsyncStore, storeConformance } from './store-conformance.js';
import { bundle, startWorkerd } from './workerd.js';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-edge-store-'));
let script: string;
const running: Miniflare[] = [];
beforeAll(async () => {
  script = await bundle(join(import.meta.dirname, 'fixtures/store.worker.ts'), join(dir, 'bundle/store.mjs'));
}, 60_000);
afterAll(async () => {
  for (const mf of running) await mf.dispose().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

let stores = 0;
async function remote(persist: string, name: string): Promise<AsyncStore> {
  const { mf, url } = await startWorkerd({ script, persist, durableObjects: { STORE: 'StoreObject' } });
  running.push(mf);
  return new Proxy({} as AsyncStore, {
    get: (_, op) =>
      op === 'then'
        ? undefined
        : async (...args: unknown[]) => {
            const res = await fetch(new URL(`/?name=${name}`, url), { method: 'POST', body: JSON.stringify({ op, args }) });
            const body = (await res.json()) as { value?: unknown; error?: string };
            if (body.error) throw new Error(body.error);
            return body.value;
          },
  });
}

storeConformance(
  'Durable Object storage (workerd)',
  {
    async open() {
      const persist = join(dir, `persist-${++stores}`);
      const name = `s${stores}`;
      const first = await remote(persist, name);
      return {
        store: first,
        reopen: async () => {
          const mf = running.pop()!;
          await mf.dispose(); // the restart: this workerd goes away, a new one opens the same files
          return remote(persist, name);
        },
      };
    },
  },
  60_000,
);
