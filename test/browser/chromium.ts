// Runs the browser tests in real Chromium: bundles the fixture page and
// worker with esbuild, serves them on 127.0.0.1, and drives Debian's
// chromium through playwright-core (which downloads nothing). Each browser
// context gets a fresh profile, so IndexedDB starts empty.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const CHROMIUM = process.env.CHROME_PATH ?? '/usr/bin/chromium';
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

/** Bundles `entries` (name → source file) and serves them with an index page loading `page.js`. */
export async function serve(entries: Record<string, string>): Promise<Site> {
  const out = mkdtempSync(join(tmpdir(), 'tidemark-site-'));
  await build({
    entryPoints: entries,
    outdir: out,
    bundle: true,
    format: 'esm',
    target: 'es2022',
    sourcemap: 'inline',
    logLevel: 'error',
  });
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const file = path === '/' ? null : join(out, path.slice(1));
    if (path === '/favicon.ico') {
      res.statusCode = 204;
      res.end();
    } else if (file === null) {
      res.setHeader('content-type', 'text/html');
      res.end('<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>');
    } else if (existsSync(file) && !file.includes('..')) {
      res.setHeader('content-type', 'text/javascript');
      res.end(readFileSync(file));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/`,
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      rmSync(out, { recursive: true, force: true });
    },
  };
}

/** The runtime's test page and worker. */
export const serveFixtures = () =>
  serve({ page: join(here, 'fixtures/page.ts'), 'runtime.worker': join(here, 'fixtures/runtime.worker.ts') });

/** A fresh Chromium profile (its own IndexedDB); `close()` removes it. */
export async function launch(): Promise<BrowserContext & { dispose(): Promise<void> }> {
  if (!existsSync(CHROMIUM))
    throw new Error(`Chromium not found at ${CHROMIUM}: run \`apt-get install -y chromium\` or set CHROME_PATH`);
  const profile = mkdtempSync(join(tmpdir(), 'tidemark-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  return Object.assign(context, {
    async dispose() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  });
}

/** Opens the test page in a new tab and collects its console errors. */
export async function openPage(context: BrowserContext, site: Site): Promise<Page & { errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().includes('favicon')) errors.push(m.text());
  });
  await page.goto(site.url);
  await page.waitForFunction(() => 'tm' in globalThis);
  return Object.assign(page, { errors });
}
