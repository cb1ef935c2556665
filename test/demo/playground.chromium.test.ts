// The playground end to end, as a person uses it: the built page (vite
// build), served with the file log by demo/server.ts, driven in Debian
// Chromium. Generate, go offline, reload, go online, crash the worker,
// reconcile; the numbers the page shows are checked against the server's
// export, and screenshots are saved in test-results/. The Dashboard runs
// against a server of its own: two tabs in two profiles (two clients) feed
// the global view, checked against both exports, then the batch layer.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { from, lastValueFrom, toArray } from 'rxjs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Chromium, launch } from '../browser/chromium.js';
import { until } from '../helpers.js';
import { isRecord } from '../../src/index.js';
import { type Click, DEFAULT_CONFIG, pipelineFor } from '../../demo/src/pipeline.js';

const root = join(import.meta.dirname, '../..');
const shots = join(root, 'test-results');
let dir: string;
let server: ChildProcess | undefined;
let url = '';
let chromium: Chromium | undefined;
const errors: string[] = [];

/** Starts demo/server.ts over `data` with the built page; resolves with its URL. */
async function startServer(data: string): Promise<{ url: string; process: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/server.ts', '--port', '0', '--data', data, '--dist', join(dir, 'dist')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (d) => (output += d));
  const at = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      output += d;
      const found = /playground: (http:\/\/\S+)/.exec(output);
      if (found) resolve(found[1] as string);
    });
    child.once('exit', (code) => reject(new Error(`demo/server.ts exited (${code}): ${output}`)));
  });
  return { url: at, process: child };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tidemark-playground-'));
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'demo/vite.config.ts', '--outDir', join(dir, 'dist'), '--emptyOutDir'],
    { cwd: root, stdio: 'pipe' },
  );
  ({ url, process: server } = await startServer(join(dir, 'data')));
  chromium = await launch();
}, 120_000);

afterAll(async () => {
  await chromium?.dispose();
  server?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * A new tab of `context` at `at`, with `storage` in the page's localStorage
 * before its scripts run (its settings, e.g. `{ 'behind-share': '0' }`).
 */
async function open(context = chromium, at = url, storage: Record<string, string> = {}): Promise<Page> {
  if (!context) throw new Error('Chromium is launched in beforeAll');
  const page = await context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  if (Object.keys(storage).length > 0)
    await page.addInitScript((items) => {
      for (const [k, v] of Object.entries(items)) localStorage.setItem(`tidemark-playground:${k}`, v);
    }, storage);
  await page.goto(at);
  await page.waitForSelector('body[data-ready=true]');
  return page;
}

/** A number the page shows, e.g. `1,234` or `12 / 40` (the first one). */
const shown = async (page: Page, testId: string) =>
  Number((await page.getByTestId(testId).innerText()).split('/')[0]?.replace(/[^\d]/g, '') ?? Number.NaN);
/** `uploaded / appended` from the status bar. */
const uploaded = async (page: Page) => {
  const [acked, appended] = (await page.getByTestId('acked').innerText()).split('/').map((s) => Number(s.replace(/[^\d]/g, '')));
  return { acked: acked as number, appended: appended as number };
};
const eventually = (what: string, check: () => Promise<boolean>, timeoutMs = 30_000) =>
  until(what, check, { timeoutMs, everyMs: 100 });

describe('the playground server', () => {
  it('serves only the built page, and refuses bad input on its own routes', async () => {
    mkdirSync(join(dir, 'dist-private'), { recursive: true });
    writeFileSync(join(dir, 'dist-private/secret.txt'), 'private');
    for (const path of ['/..%2fdist-private/secret.txt', '/%2e%2e/dist-private/secret.txt', '/..%2f..%2fetc/passwd', '/%E0%A4%A'])
      expect((await fetch(`${url}${path}`)).status, path).toBe(404);
    expect((await fetch(`${url}/`)).headers.get('content-type')).toMatch(/^text\/html/);
    expect((await fetch(`${url}/demo/token?clientId=..%2fx`)).status).toBe(400);
    expect((await fetch(`${url}/demo/export?clientId=a.%3E`)).status).toBe(400);
    expect((await fetch(`${url}/demo/reader-token?name=a.b`)).status).toBe(400);
    // A reader token reads the view across clients and cannot ingest.
    const reader = await (await fetch(`${url}/demo/reader-token?name=wallboard`)).text();
    const views = await fetch(`${url}/v1/views`, { headers: { authorization: `Bearer ${reader}` } });
    expect(views.status).toBe(200);
    expect(Object.keys((await views.json()) as object).sort()).toEqual(['lastEventId', 'rows']);
    expect((await fetch(`${url}/v1/views`)).status).toBe(401);
    const bad = await fetch(`${url}/demo/reconcile`, { method: 'POST', body: '{"clientId":' });
    expect([bad.status, ((await bad.json()) as { error: string }).error]).toEqual([400, 'expected a JSON body { clientId, config }']);
    expect((await fetch(`${url}/demo/nothing`)).status).toBe(404);
    expect((await fetch(`${url}/`, { method: 'POST' })).status).toBe(405);
  });
});

describe('the playground in Chromium', () => {
  it('reads at 40 and at 300 events/s: the status bar never truncates a value (screenshots of both)', async () => {
    // A profile of its own: the next test starts from an empty outbox.
    const own = await launch();
    const page = await open(own);
    mkdirSync(shots, { recursive: true });
    /** Status values cut off: a value wider than its box, or a stat past the bar's right edge. */
    const truncated = () =>
      page.locator('.statusbar').evaluate((bar) => {
        const right = bar.getBoundingClientRect().right;
        return Array.from(bar.querySelectorAll<HTMLElement>('.stat'))
          .filter((stat) => {
            const value = stat.querySelector('b') as HTMLElement;
            return value.scrollWidth > value.clientWidth || stat.getBoundingClientRect().right > right + 0.5;
          })
          .map((stat) => stat.innerText.replace(/\s+/g, ' '));
      });
    for (const rate of [40, 300]) {
      await page.locator('#rate').fill(String(rate));
      const from = await shown(page, 'emitted');
      // About 12 s of clicks: a few windows fire on time, late and early, and the chart fills.
      await eventually(`${rate} events/s generated`, async () => (await shown(page, 'emitted')) >= from + rate * 12, 60_000);
      expect(await truncated(), `at ${rate} events/s`).toEqual([]);
      await page.screenshot({ path: join(shots, `playground-${rate}-per-s.png`) });
    }
    // The widest values a long session shows still fit (the bar wraps rather than cutting one off).
    await page.locator('.statusbar b').evaluateAll((values) => {
      for (const b of values) b.textContent = b.id === 's-acked' ? '12,345,678 / 12,345,678' : '12,345,678';
    });
    expect(await truncated()).toEqual([]);
    // Each "late" has one name: "late" is a pane's timing only; events behind the watermark and dropped ones are named so.
    for (const part of ['.statusbar', '.controls', '#corrections-help']) expect(await page.locator(part).innerText()).not.toMatch(/\blate\b/i);
    expect(await page.locator('.legend').innerText()).toMatch(/behind watermark[\s\S]*late pane/);
    expect(await page.locator('.statusbar').innerText()).toContain('dropped (window closed)');
    expect(errors).toEqual([]);
    await own.dispose();
  }, 180_000);

  it('generate, offline, reload, online, crash, reconcile: the page shows what the server holds', async () => {
    const page = await open();
    await page.locator('#rate').fill('200');
    await eventually('events generated', async () => (await shown(page, 'emitted')) >= 1_000);
    await page.getByTestId('burst').click();

    // Offline: uploads stop, the outbox keeps everything.
    await page.getByTestId('offline').check();
    await eventually('uploads held', async () => (await page.getByTestId('upload').innerText()) === 'offline');
    const held = (await uploaded(page)).acked;
    await eventually('events waiting', async () => (await uploaded(page)).appended > held + 400);
    expect((await uploaded(page)).acked).toBe(held);

    // Reload while offline: the switch and the outbox survive.
    await page.reload();
    await page.waitForSelector('body[data-ready=true]');
    expect(await page.getByTestId('offline').isChecked()).toBe(true);
    await eventually('outbox restored', async () => (await uploaded(page)).appended > held + 400);
    await page.waitForTimeout(1_000);
    expect((await uploaded(page)).acked).toBe(held);

    // Online again: the outbox drains.
    await page.getByTestId('offline').uncheck();
    await eventually('drained', async () => {
      const u = await uploaded(page);
      return u.acked > held + 400 && u.appended - u.acked < 400;
    });
    // The drain bar counts the events that were waiting when the switch went back.
    await eventually('drain shown', async () => /^drained \d/.test(await page.locator('#drain-text').innerText()));

    // Crash the worker mid-stream: nothing lost, nothing counted twice.
    await page.getByTestId('crash').click();
    await page.waitForSelector('[data-testid=crash-result][data-same]', { timeout: 60_000 });
    expect(await page.getByTestId('crash-result').getAttribute('data-same'), await page.getByTestId('crash-result').innerText()).toBe('true');

    // Stop, reconcile, and wait for the corrections to come back.
    await page.getByTestId('toggle-gen').click();
    await page.getByTestId('reconcile').click();
    await page.waitForSelector('[data-testid=reconcile-result][data-written]', { timeout: 60_000 });
    const written = Number(await page.getByTestId('reconcile-result').getAttribute('data-written'));
    expect(written).toBeGreaterThan(0); // the very late burst, at least, was dropped by the speed layer
    await eventually('corrections shown', async () => (await page.locator('#rows tr[data-source=batch]').count()) > 0);
    // Where they land: a corrected row is scrolled into the table's view, and each line of the
    // correction list, explained on the page, brings its window into view when clicked.
    const inView = (selector: string) =>
      page.locator('.table-wrap').evaluate((wrap, sel) => {
        const box = wrap.getBoundingClientRect();
        const row = wrap.querySelector(sel)?.getBoundingClientRect();
        return !!row && row.top >= box.top && row.bottom <= box.bottom + 1;
      }, selector);
    await eventually('a corrected row in view', () => inView('tr[data-source=batch]'));
    expect(await page.locator('#corrections-help').isVisible()).toBe(true);
    expect(await page.locator('#corrections-help').innerText()).toMatch(/— means this page never fired the window/);
    const lines = page.locator('#corrections li');
    const last = lines.nth((await lines.count()) - 1);
    const id = await last.getAttribute('data-id');
    await last.click();
    const row = `tr[data-id="${id}"]`;
    expect(await page.locator(`#rows ${row}`).getAttribute('class')).toMatch(/\blanded\b/);
    expect(await inView(row)).toBe(true);

    // The server's export, run through the same pipeline in event-time order.
    const clientId = await page.getByTestId('client').innerText();
    const exported = (await (await fetch(`${url}/demo/export?clientId=${clientId}`)).json()) as {
      events: { seq: number; ts: number; data: Click }[];
    };
    const seqs = exported.events.map((e) => e.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1)); // every event once, none missing
    expect(seqs.length).toBe((await uploaded(page)).appended);
    const sorted = [...exported.events].sort((a, b) => a.ts - b.ts || a.seq - b.seq).map((e) => e.data);
    const batch = new Map<string, number>();
    const out = await lastValueFrom(pipelineFor(DEFAULT_CONFIG)(from(sorted)).pipe(toArray()));
    for (const r of out) if (isRecord(r)) batch.set(`${r.value.key}|${r.value.start}|${r.value.end}`, r.value.value);

    const differing = async () =>
      (await page.locator('#rows tr').evaluateAll((trs) => trs.map((tr) => ({ ...(tr as HTMLElement).dataset }))))
        .filter((r) => batch.get(`${r['key']}|${r['start']}|${r['end']}`) !== Number(r['value']))
        .map((r) => `${r['key']} ${r['start']}-${r['end']}: shown ${r['value']} (${r['source']}), batch ${batch.get(`${r['key']}|${r['start']}|${r['end']}`)}`);
    await until('every window shown equals the batch value', async () => (await differing()).length === 0, {
      timeoutMs: 20_000,
      everyMs: 200,
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}:\n${(await differing()).join('\n')}`);
    });
    // The rows are the windows this page fired: those its watermark passed (newest - bound - 1);
    // the batch layer corrects them once final for it, and adds none it has not reached.
    const watermark = Math.max(...exported.events.map((e) => e.data.ts)) - DEFAULT_CONFIG.bound - 1;
    const fired = [...batch.keys()].filter((id) => Number(id.split('|')[2]) - 1 <= watermark).length;
    expect(fired).toBeLessThan(batch.size); // the newest windows are not final: no spurious correction for them
    const rows = await page.locator('#rows tr').count();
    expect(rows).toBe(Math.min(300, fired));

    // A second tab shares the runtime: one leads, the other follows.
    const second = await open();
    await eventually('roles shown', async () => (await second.getByTestId('leader').innerText()).includes('tab'));
    const roles = [await page.getByTestId('leader').innerText(), await second.getByTestId('leader').innerText()].sort();
    expect(roles).toEqual(['follower tab', 'leader tab']);
    await second.close();

    mkdirSync(shots, { recursive: true });
    await page.screenshot({ path: join(shots, 'playground-1280x800.png') });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(shots, 'playground-390.png'), fullPage: true });
    expect(errors).toEqual([]);
  }, 180_000);
});

/** A row of the Dashboard's table, from its data attributes. */
interface DashRow {
  readonly key: string;
  readonly start: number;
  readonly end: number;
  readonly value: number;
  readonly source: string;
  readonly final: boolean;
  readonly corrected: boolean;
}
const dashRows = async (page: Page): Promise<DashRow[]> =>
  (await page.locator('#dash-rows tr').evaluateAll((trs) => trs.map((tr) => ({ ...(tr as HTMLElement).dataset })))).map((d) => ({
    key: d['key'] as string,
    start: Number(d['start']),
    end: Number(d['end']),
    value: Number(d['value']),
    source: d['source'] as string,
    final: d['final'] === 'true',
    corrected: d['corrected'] === 'true',
  }));
const windowOf = (w: { key: string; start: number; end: number }) => `${w.key}|${w.start}|${w.end}`;

describe('the Dashboard in Chromium', () => {
  // A server of its own: the view across clients holds only this test's two tabs.
  let dashboard: { url: string; process: ChildProcess } | undefined;
  beforeAll(async () => {
    dashboard = await startServer(join(dir, 'data-dashboard'));
  }, 60_000);
  afterAll(() => {
    dashboard?.process.kill('SIGTERM');
  });

  it('two tabs, two clients: the global view equals a run over both exports, and the batch layer makes it final', async () => {
    const at = (dashboard as { url: string }).url;
    // Two profiles: tabs of one profile share one runtime (one client id); these are two clients.
    const profiles = [await launch(), await launch()];
    // No clicks behind the watermark (disorder 1.2 s < bound 1.5 s): every click reaches its
    // window in time, in each tab and in the global speed layer, so its closed windows equal the
    // batch run exactly.
    const tabs = await Promise.all(profiles.map((p) => open(p, at, { 'behind-share': '0', rate: '60' })));
    const clients = await Promise.all(tabs.map((t) => t.getByTestId('client').innerText()));
    expect(new Set(clients).size).toBe(2);
    const [page, other] = tabs as [Page, Page];
    const card = page.getByTestId('dashboard');
    await eventually('the Dashboard live', async () => (await card.getAttribute('data-state')) === 'live');
    await eventually('both tabs feed it', async () => (await card.getAttribute('data-clients')) === '2');

    // About 15 s of clicks from both tabs, then stop and let the uploads finish.
    await eventually('clicks generated', async () => (await shown(page, 'emitted')) >= 900 && (await shown(other, 'emitted')) >= 900, 60_000);
    for (const t of tabs) await t.getByTestId('toggle-gen').click();
    for (const t of tabs)
      await eventually('uploaded', async () => {
        const u = await uploaded(t);
        return u.appended > 0 && u.acked === u.appended;
      });

    // Both exports through the same pipeline, in event-time order: the batch answer.
    const events: { seq: number; ts: number; data: Click }[] = [];
    const newest: number[] = [];
    for (const clientId of clients) {
      const exported = (await (await fetch(`${at}/demo/export?clientId=${clientId}`)).json()) as { events: typeof events };
      expect(exported.events.length).toBeGreaterThan(800);
      events.push(...exported.events);
      newest.push(Math.max(...exported.events.map((e) => e.data.ts)));
    }
    const sorted = [...events].sort((a, b) => a.ts - b.ts).map((e) => e.data);
    const batch = new Map<string, number>();
    for (const r of await lastValueFrom(pipelineFor(DEFAULT_CONFIG)(from(sorted)).pipe(toArray())))
      if (isRecord(r)) batch.set(`${r.value.key}|${r.value.start}|${r.value.end}`, r.value.value);

    // Closed windows: every tab's watermark (newest - bound - 1) is past their end + allowed lateness,
    // so the global one is too, and no pane of them can change.
    const closedBy = Math.min(...newest) - DEFAULT_CONFIG.bound - 1 - DEFAULT_CONFIG.lateness;
    const closed = [...batch.keys()].filter((id) => Number(id.split('|')[2]) <= closedBy);
    expect(closed.length).toBeGreaterThanOrEqual(10); // two 5 s windows of the five pages, at least
    const speedDiffers = async () => {
      const rows = new Map((await dashRows(page)).map((r) => [windowOf(r), r]));
      return closed
        .filter((id) => rows.get(id)?.value !== batch.get(id) || rows.get(id)?.source !== 'speed')
        .map((id) => `${id}: shown ${rows.get(id)?.value} (${rows.get(id)?.source}), batch ${batch.get(id)}`);
    };
    await until('the Dashboard shows every closed window with its batch value, from the speed layer', async () => (await speedDiffers()).length === 0, {
      timeoutMs: 20_000,
      everyMs: 200,
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}:\n${(await speedDiffers()).join('\n')}`);
    });
    expect((await dashRows(page)).every((r) => !r.final)).toBe(true);
    // The other tab's Dashboard shows the same view.
    await eventually('the same view in both tabs', async () => JSON.stringify(await dashRows(other)) === JSON.stringify(await dashRows(page)));

    // The batch layer over all clients: windows before its frontier become batch rows, final, with its values.
    await page.getByTestId('dash-batch').click();
    await page.waitForSelector('[data-testid=dash-result][data-frontier]', { timeout: 60_000 });
    const result = page.getByTestId('dash-result');
    expect(await result.getAttribute('class'), await result.innerText()).toMatch(/\bok\b/);
    const frontier = Number(await result.getAttribute('data-frontier'));
    expect(frontier).toBeGreaterThan(Number(closed[0]?.split('|')[1]));
    const batchDiffers = async () =>
      (await dashRows(page))
        .filter((r) =>
          r.start < frontier ? r.source !== 'batch' || !r.final || r.value !== batch.get(windowOf(r)) || !r.corrected : r.final,
        )
        .map((r) => `${windowOf(r)}: shown ${r.value} (${r.source}${r.final ? ', final' : ''}${r.corrected ? ', flashed' : ''}), batch ${batch.get(windowOf(r))}`);
    await until('every window before the frontier is final with the batch value, and flashed', async () => (await batchDiffers()).length === 0, {
      timeoutMs: 20_000,
      everyMs: 200,
    }).catch(async (err: Error) => {
      throw new Error(`${err.message}:\n${(await batchDiffers()).join('\n')}`);
    });
    // Every batch window before the frontier is shown, those the speed layer never fired too.
    const shownIds = new Set((await dashRows(page)).map(windowOf));
    expect([...batch.keys()].filter((id) => Number(id.split('|')[1]) < frontier && !shownIds.has(id))).toEqual([]);
    // The run wrote no per-client correction: the tabs may run other pipelines.
    for (const clientId of clients) {
      const token = await (await fetch(`${at}/demo/token?clientId=${clientId}`)).text();
      const listed = (await (await fetch(`${at}/v1/corrections?clientId=${clientId}`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
        corrections: unknown[];
      };
      expect(listed.corrections).toEqual([]);
    }

    mkdirSync(shots, { recursive: true });
    await card.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(shots, 'playground-dashboard-1280x800.png') });
    await card.screenshot({ path: join(shots, 'playground-dashboard-card.png') });
    expect(errors).toEqual([]);
    for (const p of profiles) await p.dispose();
  }, 180_000);
});
