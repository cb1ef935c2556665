// The one harness that drives real Chromium, for the browser tests and the
// browser benchmarks (bench/browser, bench/nexmark): bundles entry points
// with esbuild, serves them on 127.0.0.1, and launches Debian's chromium
// through playwright-core (which downloads nothing). Each launch gets a
// fresh profile, so IndexedDB starts empty.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROME_PATH ?? '/usr/bin/chromium';
/** No sandbox as root, and no attempts to reach the (closed) network. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Site {
  readonly url: string;
  close(): Promise<void>;
}

export interface ServeOptions {
  /** COOP + COEP headers: the page is cross-origin isolated, so `performance.now()` has 5 µs resolution. */
  readonly isolated?: boolean;
  /** Inline source maps, for readable stack traces in tests (benchmarks leave them out). */
  readonly sourcemap?: boolean;
}

/**
 * Bundles `entries` (output name → source file) and serves them; `/` is a
 * page that loads `/page.js` when there is such an entry, else an empty page.
 */
export async function serve(entries: Record<string, string>, options: ServeOptions = {}): Promise<Site> {
  const out = mkdtempSync(join(tmpdir(), 'tidemark-site-'));
  await build({
    entryPoints: entries,
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Shared bench helpers import Node built-ins lazily (bench/harness.ts's rssSampler); a page never calls them.
    external: ['node:*'],
    sourcemap: options.sourcemap ? 'inline' : false,
    logLevel: 'error',
  });
  const script = 'page' in entries ? '<script type="module" src="/page.js"></script>' : '';
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (options.isolated) {
      res.setHeader('cross-origin-opener-policy', 'same-origin');
      res.setHeader('cross-origin-embedder-policy', 'require-corp');
    }
    const file = join(out, path.slice(1));
    if (path === '/') {
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><meta charset="utf-8"><title>tidemark</title>${script}`);
    } else if (/^\/[\w.-]+\.js$/.test(path) && existsSync(file)) {
      res.setHeader('content-type', 'text/javascript');
      res.end(readFileSync(file));
    } else {
      res.statusCode = path === '/favicon.ico' ? 204 : 404;
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      rmSync(out, { recursive: true, force: true });
    },
  };
}

/** A browser context with a fresh profile (its own IndexedDB); `dispose()` closes it and removes the profile. */
export type Chromium = BrowserContext & { dispose(): Promise<void> };

/** Launches Chromium headless with a fresh profile; `extraArgs` are added to {@link CHROMIUM_ARGS}. */
export async function launch(extraArgs: readonly string[] = []): Promise<Chromium> {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium not found at ${CHROMIUM}: run \`apt-get install -y chromium\` or set CHROME_PATH`);
  const profile = mkdtempSync(join(tmpdir(), 'tidemark-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
  return Object.assign(context, {
    async dispose() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  });
}

/** What `chromium --version` prints, e.g. "Chromium 156.0.8078.79 built on Debian…". */
export function chromiumVersion(): string {
  try {
    const lines = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split('\n');
    return lines[lines.length - 1] ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
