// The playground end to end, as a person uses it: the built page (vite
// build), served with the file log by demo/server.ts, driven in Debian
// Chromium. Generate, go offline, reload, go online, crash the worker,
// reconcile; the numbers the page shows are checked against the server's
// export, and screenshots are saved in test-results/.
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

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tidemark-playground-'));
  execFileSync(
    process.execPath,
    [join(root, 'node_modules/vite/bin/vite.js'), 'build', '--config', 'demo/vite.config.ts', '--outDir', join(dir, 'dist'), '--emptyOutDir'],
    { cwd: root, stdio: 'pipe' },
  );
  server = spawn(process.execPath, ['--import', 'tsx', 'demo/server.ts', '--port', '0', '--data', join(dir, 'data'), '--dist', join(dir, 'dist')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  server.stderr?.on('data', (d) => (output += d));
  url = await new Promise<string>((resolve, reject) => {
    server?.stdout?.on('data', (d) => {
      output += d;
      const found = /playground: (http:\/\/\S+)/.exec(output);
      if (found) resolve(found[1] as string);
    });
    server?.once('exit', (code) => reject(new Error(`demo/server.ts exited (${code}): ${output}`)));
  });
  chromium = await launch();
}, 120_000);

afterAll(async () => {
  await chromium?.dispose();
  server?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function open(context = chromium): Promise<Page> {
  if (!context) throw new Error('Chromium is launched in beforeAll');
  const page = await context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  await page.goto(url);
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
