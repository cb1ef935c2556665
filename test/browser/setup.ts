// The runtime's browser tests: their page and worker, served and opened in
// Chromium through the shared harness in ./chromium.ts, or in any of the
// three engines through ./engines.ts.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { type Chromium, launch, type Site, serve } from './chromium.js';
import { type Engine, type EngineName, type EnginePage, type LaunchOptions, launchEngine } from './engines.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The runtime's test page and worker. */
export const serveFixtures = () =>
  serve(
    { page: join(here, 'fixtures/page.ts'), 'runtime.worker': join(here, 'fixtures/runtime.worker.ts') },
    { sourcemap: true },
  );

/**
 * Serves the fixtures and launches Chromium for the tests of the enclosing
 * `describe` (or file); the getters are valid inside its tests.
 */
export function useChromium(): { readonly site: Site; readonly context: Chromium } {
  let site: Site | undefined;
  let context: Chromium | undefined;
  beforeAll(async () => {
    site = await serveFixtures();
    context = await launch();
  }, 60_000);
  afterAll(async () => {
    await context?.dispose();
    await site?.close();
  });
  return {
    get site() {
      if (!site) throw new Error('useChromium: the site is served in beforeAll');
      return site;
    },
    get context() {
      if (!context) throw new Error('useChromium: Chromium is launched in beforeAll');
      return context;
    },
  };
}

/** Opens the test page in a new tab and collects its console errors. */
export async function openPage(context: BrowserContext, site: Site): Promise<Page & { errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(site.url);
  await page.waitForFunction(() => 'tm' in globalThis);
  return Object.assign(page, { errors });
}

/**
 * Serves the fixtures and launches `name` (see ./engines.ts) for the tests
 * of the enclosing `describe`; the getters are valid inside its tests.
 */
export function useEngine(name: EngineName, options: LaunchOptions = {}): { readonly site: Site; readonly engine: Engine } {
  let site: Site | undefined;
  let engine: Engine | undefined;
  beforeAll(async () => {
    site = await serveFixtures();
    engine = await launchEngine(name, options);
  }, 120_000);
  afterAll(async () => {
    await engine?.dispose();
    await site?.close();
  }, 30_000);
  return {
    get site() {
      if (!site) throw new Error('useEngine: the site is served in beforeAll');
      return site;
    },
    get engine() {
      if (!engine) throw new Error(`useEngine: ${name} is launched in beforeAll`);
      return engine;
    },
  };
}

/** Opens the test page in a new tab of `engine` and waits for `tm`. */
export async function openTab(engine: Engine, site: Site): Promise<EnginePage> {
  const page = await engine.newPage(site.url);
  await page.waitFor(() => 'tm' in globalThis);
  return page;
}
