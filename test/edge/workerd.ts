// Helpers for the tests that run under real workerd (miniflare's bundled runtime).
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import * as esbuild from 'esbuild';
import { Miniflare } from 'miniflare';
import { edgeBuildOptions } from '../../src/server/build-edge.js';

/** Bundles a worker module for workerd with `tidemark build-edge`'s options (unminified). */
export async function bundle(entry: string, outfile: string): Promise<string> {
  mkdirSync(dirname(outfile), { recursive: true });
  await esbuild.build({ ...edgeBuildOptions, entryPoints: [entry], outfile });
  return outfile;
}

/** Starts workerd on a free loopback port with `script`, Durable Objects persisted in `persist`. */
export async function startWorkerd(options: {
  script: string;
  persist: string;
  durableObjects: Record<string, string>;
  bindings?: Record<string, string>;
  /** KV namespace bindings (in memory). */
  kvNamespaces?: string[];
}): Promise<{ mf: Miniflare; url: URL }> {
  const mf = new Miniflare({
    modules: true,
    scriptPath: options.script,
    modulesRoot: dirname(options.script),
    compatibilityDate: '2025-09-01',
    durableObjects: Object.fromEntries(
      Object.entries(options.durableObjects).map(([binding, className]) => [binding, { className, useSQLite: true }]),
    ),
    durableObjectsPersist: options.persist,
    bindings: options.bindings ?? {},
    kvNamespaces: options.kvNamespaces ?? [],
    host: '127.0.0.1',
    port: 0,
  });
  const url = await mf.ready;
  return { mf, url };
}
