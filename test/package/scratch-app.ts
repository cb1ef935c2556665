// A scratch app that installs the packed tarball as a user's app would, with
// npm itself, but offline: every package comes from the npm cache that this
// repository's `npm ci` filled. Its lockfile is cut from this repository's
// (same versions, same integrity hashes), so `npm ci --offline` fetches
// nothing and a clean clone's CI, whose cache holds only what `npm ci`
// fetched, can run it.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';

export const run = promisify(execFile);

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean;
  devOptional?: boolean;
  optional?: boolean;
  peer?: boolean;
  [field: string]: unknown;
}

/**
 * The lockfile entries `roots` need (their dependencies, optional and
 * required peer ones, transitively), found as Node resolves them: in the
 * package's own node_modules, then up the tree.
 */
function closure(packages: Record<string, LockEntry>, roots: readonly string[]): Map<string, LockEntry> {
  const out = new Map<string, LockEntry>();
  const find = (from: string, name: string): string | undefined => {
    for (let at = from; ; ) {
      const path = `${at ? `${at}/` : ''}node_modules/${name}`;
      if (packages[path]) return path;
      if (!at) return undefined;
      const i = at.lastIndexOf('/node_modules/');
      at = i < 0 ? '' : at.slice(0, i);
    }
  };
  const visit = (path: string) => {
    if (out.has(path)) return;
    const entry = packages[path];
    if (!entry) throw new Error(`the lockfile has no ${path}`);
    out.set(path, entry);
    const peers = Object.keys(entry.peerDependencies ?? {}).filter((p) => !entry.peerDependenciesMeta?.[p]?.optional);
    for (const name of [...Object.keys(entry.dependencies ?? {}), ...Object.keys(entry.optionalDependencies ?? {}), ...peers]) {
      const found = find(path, name);
      if (found) visit(found);
      else if (!entry.optionalDependencies?.[name]) throw new Error(`the lockfile has no ${name} for ${path}`);
    }
  };
  for (const root of roots) visit(`node_modules/${root}`);
  return out;
}

/**
 * Writes `package.json` and `package-lock.json` of an app in `dir` that
 * depends on the tarball (copied beside them) and on `deps`/`devDeps` at the
 * versions this repository locks, then runs `npm ci --offline` there.
 * Answers npm's output.
 */
export async function installScratchApp(
  dir: string,
  repo: string,
  tarball: string,
  deps: readonly string[],
  devDeps: readonly string[],
): Promise<string> {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const packed = readFileSync(tarball);
  const file = basename(tarball);
  writeFileSync(join(dir, file), packed);
  // The tarball's own package.json says what it needs; npm reads it from the tarball too.
  const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as LockEntry & {
    name: string;
    bin?: Record<string, string>;
    engines?: Record<string, string>;
    license?: string;
  };
  const version = (name: string) => {
    const v = lock.packages[`node_modules/${name}`]?.version;
    if (!v) throw new Error(`${name} is not in this repository's lockfile`);
    return v;
  };
  const pkg = {
    name: 'tidemark-scratch-app',
    private: true,
    dependencies: { tidemark: `file:${file}`, ...Object.fromEntries(deps.map((d) => [d, version(d)])) },
    devDependencies: Object.fromEntries(devDeps.map((d) => [d, version(d)])),
  };
  const needed = closure(lock.packages, [...Object.keys(manifest.dependencies ?? {}), ...deps, ...devDeps]);
  const packages: Record<string, unknown> = {
    '': { name: pkg.name, dependencies: pkg.dependencies, devDependencies: pkg.devDependencies },
    'node_modules/tidemark': {
      version: manifest.version,
      resolved: `file:${file}`,
      integrity: `sha512-${createHash('sha512').update(packed).digest('base64')}`,
      license: manifest.license,
      dependencies: manifest.dependencies,
      peerDependencies: manifest.peerDependencies,
      peerDependenciesMeta: manifest.peerDependenciesMeta,
      bin: manifest.bin,
      engines: manifest.engines,
    },
  };
  for (const [path, entry] of [...needed].sort(([a], [b]) => a.localeCompare(b))) {
    // npm derives these from the app's own dependency graph.
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...rest } = entry;
    packages[path] = rest;
  }
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify({ name: pkg.name, lockfileVersion: 3, requires: true, packages }, null, 2)}\n`);
  const { stdout, stderr } = await run('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=warn'], {
    cwd: dir,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout + stderr;
}
