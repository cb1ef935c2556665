/// <reference types="node" />
/**
 * `tidemark build-edge <module> <out-dir> [--partitions N] [--no-minify]`:
 * a deployable edge worker, from the installed package (`npx tidemark
 * build-edge …`) or from this repository (`npm run build:edge -- …`).
 *
 * `<module>` is either a worker entry (it exports `EdgePartition` and a
 * default `{ fetch }`, like `workers/edge.ts`) or a pipeline module (it
 * exports `pipeline`, or a default function, like `workers/edge-pipeline.ts`),
 * for which the entry is generated: `createEdge({ pipeline, partitions })`.
 * Writes `<out-dir>/worker.mjs` (one ES module: esbuild, `--bundle
 * --format=esm --platform=neutral --target=es2022`, minified) and a sample
 * `<out-dir>/wrangler.toml` (the Durable Object binding and its migration).
 *
 * esbuild is an optional peer dependency, imported when a build starts: only
 * an app that builds edge workers installs it (`npm install -D esbuild`).
 * `tidemark` and `tidemark/*` resolve as the module's own imports do (to
 * the app's installed package); run from this repository's sources, they
 * resolve to `src/`.
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type * as esbuild from 'esbuild';
import { InvalidOptionError } from '../errors.js';
import { loadOptional } from './optional-package.js';

/** Running from the repository's TypeScript sources (tsx, vitest) rather than the built package. */
const fromSources = import.meta.url.endsWith('.ts');
const repoSrc = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The esbuild options of an edge bundle (one ES module for workerd),
 * without entry, output or minification; the workerd tests and the edge
 * benchmark bundle with these too, so what they run is what this command
 * builds. @internal
 */
export const edgeBuildOptions: esbuild.BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'neutral',
  target: 'es2022',
  mainFields: ['module', 'main'],
  logLevel: 'silent',
  ...(fromSources ? { alias: { tidemark: repoSrc } } : {}),
};

/** Options of {@link buildEdge}. @internal */
export interface BuildEdgeOptions {
  /** A worker entry or a pipeline module (see above). */
  readonly module: string;
  readonly outDir: string;
  /** Partitions of a generated entry (default 4). */
  readonly partitions?: number;
  readonly minify?: boolean;
  /** The worker's name in wrangler.toml (default `tidemark-edge`). */
  readonly name?: string;
}

/** What {@link buildEdge} wrote. @internal */
export interface BuiltEdge {
  readonly script: string;
  readonly wrangler: string;
  readonly bytes: number;
  readonly gzipBytes: number;
  /** `true` when the entry was generated from a pipeline module. */
  readonly generated: boolean;
}

/** esbuild, or a MissingDependencyError that says how to install it. @internal */
export function loadEsbuild(): Promise<typeof esbuild> {
  return loadOptional('tidemark build-edge', ['esbuild@>=0.18'], () => import('esbuild'));
}

/** Bundles the edge worker; see the module's comment. @internal */
export async function buildEdge(options: BuildEdgeOptions): Promise<BuiltEdge> {
  const module = resolve(options.module);
  if (!existsSync(module))
    throw new InvalidOptionError('module', `no such file ${module}; give a pipeline module or a worker entry`);
  const partitions = options.partitions ?? 4;
  if (!Number.isSafeInteger(partitions) || partitions < 1)
    throw new InvalidOptionError('partitions', `must be a whole number >= 1, got ${partitions}`);
  const { build } = await loadEsbuild();
  const outDir = resolve(options.outDir);
  mkdirSync(outDir, { recursive: true });
  // What does the module export? A worker entry exports its Durable Object class.
  const probe = await build({ ...edgeBuildOptions, entryPoints: [module], write: false, metafile: true });
  const exported = Object.values(probe.metafile?.outputs ?? {})[0]?.exports ?? [];
  const generated = !exported.includes('EdgePartition');
  if (generated && !exported.includes('pipeline') && !exported.includes('default'))
    throw new InvalidOptionError(
      'module',
      `${module} exports neither EdgePartition (a worker entry) nor pipeline (a pipeline module); ` +
        'add export const pipeline = (events$) => events$.pipe(eventTime(...), windowBy(...))',
    );
  const edgeApi = fromSources ? join(repoSrc, 'edge/index.ts') : 'tidemark/edge';
  const entry = generated
    ? {
        stdin: {
          contents: [
            `import { createEdge } from ${JSON.stringify(edgeApi)};`,
            `import * as mod from ${JSON.stringify(`./${relative(dirname(module), module).replace(/\\/g, '/')}`)};`,
            `const edge = createEdge({ pipeline: mod.pipeline ?? mod.default, partitions: ${partitions} });`,
            'export const EdgePartition = edge.Partition;',
            'export default { fetch: edge.fetch };',
          ].join('\n'),
          resolveDir: dirname(module),
          sourcefile: 'edge-entry.ts',
          loader: 'ts' as const,
        },
      }
    : { entryPoints: [module] };
  const script = join(outDir, 'worker.mjs');
  await build({ ...edgeBuildOptions, ...entry, outfile: script, minify: options.minify ?? true, legalComments: 'none' });
  const code = readFileSync(script);
  const wrangler = join(outDir, 'wrangler.toml');
  writeFileSync(wrangler, wranglerToml(options.name ?? 'tidemark-edge'));
  return { script, wrangler, bytes: code.length, gzipBytes: gzipSync(code, { level: 9 }).length, generated };
}

/** A sample wrangler.toml for the bundle: the Durable Object binding, its (SQLite-backed) class migration and the variables. @internal */
export function wranglerToml(name: string): string {
  return `# Generated by \`tidemark build-edge\`. Deploy with: npx wrangler deploy
name = "${name}"
main = "worker.mjs"
compatibility_date = "2025-09-01"

[vars]
# The Tidemark server the edge forwards events to (its /v1/ingest).
TIDEMARK_UPSTREAM = "https://ingest.example.com"
# The server's token secret is a secret, not a var: npx wrangler secret put TIDEMARK_SECRET

[[durable_objects.bindings]]
name = "PARTITIONS"
class_name = "EdgePartition"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["EdgePartition"]
`;
}
