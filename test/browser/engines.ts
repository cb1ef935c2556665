// One small driver adapter over three browser engines, for the browser
// tests and benchmarks: what they need is a tab at a URL, a script evaluated
// in it, reload, close, a second tab, a relaunch on the same profile where
// the engine keeps storage, and the page's errors.
//
// - chromium: Debian's chromium through playwright-core (./chromium.ts).
// - firefox: Debian's firefox-esr through puppeteer-core over WebDriver BiDi
//   (no geckodriver: Debian has none, and the npm one downloads a binary).
// - webkit: Debian's WebKitWebDriver + MiniBrowser through selenium-webdriver,
//   under `xvfb-run -a` (MiniBrowser has no headless mode). `usingServer`
//   keeps Selenium Manager from looking for (or downloading) a driver.
//
// Nothing here downloads a browser. See ../../../shared/RECIPES.md
// ("Firefox and WebKit") for how these launches were verified.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM, CHROMIUM_ARGS, chromiumVersion } from './chromium.js';

export type EngineName = 'chromium' | 'firefox' | 'webkit';
export const ALL_ENGINES: readonly EngineName[] = ['chromium', 'firefox', 'webkit'];

/** The engines to run: `ENGINES=firefox,webkit` narrows them (all three by default). */
export const ENGINES: readonly EngineName[] = (process.env.ENGINES ?? ALL_ENGINES.join(','))
  .split(',')
  .map((e) => e.trim())
  .filter((e): e is EngineName => (ALL_ENGINES as readonly string[]).includes(e));

export const FIREFOX = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';
export const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? '/usr/bin/WebKitWebDriver';
export const MINIBROWSER = process.env.MINIBROWSER ?? '/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser';

/** What an engine can do under automation here (the tests assert the rest, and say so in their names). */
export interface EngineCapabilities {
  /** Storage survives closing and relaunching the browser on the same profile (WebKit keeps it in memory). */
  readonly relaunch: boolean;
  /** The driver can cut the tab's network (`setOffline`). */
  readonly offline: boolean;
  /** Tabs run script at once (WebDriver classic runs one command at a time per session). */
  readonly concurrentTabs: boolean;
}

/** One tab. `evaluate` serialises `fn` (like playwright's), so it may only use its argument and page globals. */
export interface EnginePage {
  evaluate<R>(fn: () => R | Promise<R>): Promise<Awaited<R>>;
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<Awaited<R>>;
  /** Polls `fn` in the page until it is truthy. */
  waitFor(fn: () => unknown, timeoutMs?: number): Promise<void>;
  reload(): Promise<void>;
  /** Closes the tab without running `beforeunload`. */
  close(): Promise<void>;
  /** Errors the page reported: uncaught errors, unhandled rejections, `console.error`. */
  errors(): Promise<string[]>;
}

export interface Engine {
  readonly name: EngineName;
  /** e.g. "Mozilla Firefox 140.12.0esr". */
  readonly version: string;
  readonly can: EngineCapabilities;
  newPage(url: string): Promise<EnginePage>;
  /** Cuts (or restores) the network of every tab; throws where `can.offline` is false. */
  setOffline(offline: boolean): Promise<void>;
  /** Closes the browser and launches it again on the same profile (WebKit: a new session, with empty storage). */
  relaunch(): Promise<void>;
  /** Closes the browser and removes its profile. */
  dispose(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Races `promise` against `ms`; `what` says what did not finish. */
async function within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Installed in every page before anything else runs, so that engines without a console API report errors too. */
const COLLECT_ERRORS = `(() => {
  if (globalThis.__pageErrors) return;
  const errors = (globalThis.__pageErrors = []);
  addEventListener('error', (e) => errors.push(String(e.message)));
  addEventListener('unhandledrejection', (e) => errors.push(String(e.reason && e.reason.message || e.reason)));
  const error = console.error.bind(console);
  console.error = (...args) => { errors.push(args.map(String).join(' ')); error(...args); };
})()`;

async function pollPage(page: Pick<EnginePage, 'evaluate'>, fn: () => unknown, timeoutMs: number) {
  const source = `(${fn.toString()})()`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // `eval` in the page: a function's text cannot cross as a function.
    if (await page.evaluate((s: string) => Boolean((0, eval)(s)), source).catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`the page never satisfied ${fn.toString()} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** Launch options an engine may honour. */
export interface LaunchOptions {
  /** Firefox only: preferences set in its fresh profile (e.g. a small storage quota). */
  readonly firefoxPrefs?: Record<string, string | number | boolean>;
}

/** Launches `name` with a fresh profile. */
export async function launchEngine(name: EngineName, options: LaunchOptions = {}): Promise<Engine> {
  if (name === 'chromium') return launchChromium();
  if (name === 'firefox') return launchFirefox(options.firefoxPrefs);
  return launchWebKit();
}

async function launchChromium(): Promise<Engine> {
  const { chromium } = await import('playwright-core');
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: run \`apt-get install -y chromium\` or set CHROME_PATH`);
  const profile = mkdtempSync(join(tmpdir(), 'tidemark-chromium-'));
  const start = () => chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  let context = await start();
  return {
    name: 'chromium',
    version: chromiumVersion(),
    can: { relaunch: true, offline: true, concurrentTabs: true },
    async newPage(url) {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await page.goto(url);
      return {
        evaluate: ((fn: (a: unknown) => unknown, arg?: unknown) => page.evaluate(fn, arg)) as EnginePage['evaluate'],
        waitFor: async (fn, timeoutMs = 30_000) => {
          await page.waitForFunction(fn, undefined, { timeout: timeoutMs });
        },
        reload: async () => {
          await page.reload();
        },
        close: () => page.close({ runBeforeUnload: false }),
        errors: async () => errors,
      };
    },
    setOffline: (offline) => context.setOffline(offline),
    async relaunch() {
      await context.close();
      context = await start();
    },
    async dispose() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

async function launchFirefox(prefs: Record<string, string | number | boolean> = {}): Promise<Engine> {
  const puppeteer = (await import('puppeteer-core')).default;
  if (!existsSync(FIREFOX))
    throw new Error(`Firefox not found at ${FIREFOX}: run \`apt-get install -y firefox-esr\` (scripts/test.sh does) or set FIREFOX_PATH`);
  const profile = mkdtempSync(join(tmpdir(), 'tidemark-firefox-'));
  const start = () =>
    puppeteer.launch({
      browser: 'firefox',
      executablePath: FIREFOX,
      headless: true,
      protocol: 'webDriverBiDi',
      timeout: 90_000,
      userDataDir: profile,
      // Without this pref, navigator.storage.persist() never settles in automation.
      extraPrefsFirefox: { 'permissions.default.persistent-storage': 1, ...prefs },
    });
  let browser = await start();
  return {
    name: 'firefox',
    version: execFileSync(FIREFOX, ['--version'], { encoding: 'utf8' }).trim(),
    can: { relaunch: true, offline: false, concurrentTabs: true },
    async newPage(url) {
      // A window, not a tab: Firefox hides a background tab, and a hidden
      // page's nested timers run once a second (measured: 1 000 ms per
      // `setTimeout(0)` after the first few).
      const page = await browser.newPage({ type: 'window' });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e instanceof Error ? e.message : String(e)));
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      await page.goto(url);
      const self: EnginePage = {
        evaluate: ((fn: (a: unknown) => unknown, arg?: unknown) => page.evaluate(fn, arg)) as EnginePage['evaluate'],
        waitFor: (fn, timeoutMs = 30_000) => pollPage(self, fn, timeoutMs),
        reload: async () => {
          await page.reload();
        },
        close: () => page.close({ runBeforeUnload: false }),
        errors: async () => errors,
      };
      return self;
    },
    async setOffline() {
      throw new Error('firefox-esr over WebDriver BiDi cannot emulate offline (emulation.setNetworkConditions is newer)');
    },
    async relaunch() {
      await browser.close();
      browser = await start();
    },
    async dispose() {
      await browser.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function launchWebKit(): Promise<Engine> {
  const { Builder } = await import('selenium-webdriver');
  for (const [what, path, pkg] of [
    ['WebKitWebDriver', WEBKIT_DRIVER, 'webkit2gtk-driver'],
    ['MiniBrowser', MINIBROWSER, 'libwebkit2gtk-4.1-0'],
    ['xvfb-run', '/usr/bin/xvfb-run', 'xvfb xauth'],
  ] as const)
    if (!existsSync(path)) throw new Error(`${what} not found at ${path}: run \`apt-get install -y ${pkg}\` (scripts/test.sh does)`);
  const port = await freePort();
  // xvfb-run gives WebKitWebDriver (and the MiniBrowser it starts) a display of its own.
  const driverProcess: ChildProcess = spawn('xvfb-run', ['-a', WEBKIT_DRIVER, `--port=${port}`], {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, NO_AT_BRIDGE: '1' },
  });
  const stopDriver = () => {
    try {
      if (driverProcess.pid) process.kill(-driverProcess.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  try {
    await within(
      'WebKitWebDriver start',
      30_000,
      (async () => {
        for (;;) {
          const up = await fetch(`http://127.0.0.1:${port}/status`).then((r) => r.ok, () => false);
          if (up) return;
          await sleep(100);
        }
      })(),
    );
    // Without a display, session creation hangs: always within a time limit.
    const session = async () => {
      const d = await within(
        'WebKit session creation (is xvfb-run working?)',
        90_000,
        new Builder()
          .usingServer(`http://127.0.0.1:${port}`)
          .withCapabilities({
            browserName: 'MiniBrowser',
            'webkitgtk:browserOptions': { binary: MINIBROWSER, args: ['--automation', '--features=+StorageAPI,+StorageAPIEstimate'] },
          })
          .build(),
      );
      await d.manage().setTimeouts({ script: 180_000, pageLoad: 60_000 });
      return d;
    };
    let driver = await session();
    const version = String((await driver.getCapabilities()).get('browserVersion') ?? 'unknown');
    // WebDriver classic runs one command at a time and acts on the current
    // window: every call switches to its tab first, one after the other.
    let queue: Promise<unknown> = Promise.resolve();
    const serial = <T>(fn: () => Promise<T>): Promise<T> => {
      const next = queue.then(fn, fn);
      queue = next.catch(() => undefined);
      return next;
    };
    // The first window stays open and blank: closing a session's last window ends the session.
    let blank = await driver.getWindowHandle();
    return {
      name: 'webkit',
      version: `WebKitGTK ${version}`,
      can: { relaunch: false, offline: false, concurrentTabs: false },
      async newPage(url) {
        const handle = await serial(async () => {
          // A window, not a tab: MiniBrowser's new tab is hidden even when
          // WebDriver switches to it, and a hidden page's nested timers run
          // once a second (20 000 events in chunks took 30 s instead of 0.1 s).
          await driver.switchTo().newWindow('window');
          const h = await driver.getWindowHandle();
          await driver.get(url);
          await driver.executeScript(COLLECT_ERRORS);
          return h;
        });
        const inTab = <T>(fn: () => Promise<T>) =>
          serial(async () => {
            await driver.switchTo().window(handle);
            return fn();
          });
        const self: EnginePage = {
          evaluate: ((fn: (a: unknown) => unknown, arg?: unknown) =>
            inTab(async () => {
              const outcome = (await driver.executeAsyncScript(
                `const done = arguments[arguments.length - 1];
                 Promise.resolve().then(() => (${fn.toString()})(arguments[0]))
                   .then((value) => done({ ok: true, value: value === undefined ? null : value }),
                         (e) => done({ ok: false, error: e instanceof Error ? e.name + ': ' + e.message + '\\n' + e.stack : String(e) }));`,
                arg,
              )) as { ok: boolean; value?: unknown; error?: string };
              if (!outcome.ok) throw new Error(`in WebKit: ${outcome.error}`);
              return outcome.value;
            })) as EnginePage['evaluate'],
          waitFor: (fn, timeoutMs = 30_000) => pollPage(self, fn, timeoutMs),
          reload: () =>
            inTab(async () => {
              await driver.navigate().refresh();
              await driver.executeScript(COLLECT_ERRORS);
            }),
          close: () =>
            inTab(async () => {
              await driver.close();
              await driver.switchTo().window(blank);
            }),
          errors: () => inTab(async () => (await driver.executeScript('return globalThis.__pageErrors || []')) as string[]),
        };
        return self;
      },
      async setOffline() {
        throw new Error('WebKitWebDriver cannot emulate offline');
      },
      // A new MiniBrowser: under automation WebKit keeps storage in memory, so it starts empty.
      relaunch: () =>
        serial(async () => {
          await within('WebKit quit', 10_000, driver.quit()).catch(() => undefined);
          driver = await session();
          blank = await driver.getWindowHandle();
        }),
      async dispose() {
        await within('WebKit quit', 10_000, driver.quit()).catch(() => undefined);
        stopDriver();
      },
    };
  } catch (err) {
    stopDriver();
    throw err;
  }
}
