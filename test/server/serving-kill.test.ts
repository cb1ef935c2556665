// `tidemark serve --pipeline` as a real process, killed with SIGKILL during
// ingest while a dashboard follows GET /v1/views/stream: after the restart
// the global view equals an uninterrupted run over the same log, and the
// dashboard, resuming with Last-Event-ID, sees every change exactly once.
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ViewChange, ViewReset, ViewRow } from '../../src/protocol/index.js';
import { fileLog, globalSpeedLayer, loadPipeline, readerTokenFor, tokenFor } from '../../src/server/index.js';
import { windowId } from '../../src/windows/identity.js';
import { until } from '../helpers.js';
import { root, tidemarkCli } from './cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-serving-kill-'));
const secret = 'the secret of the serving kill test';
const { serve, killAll } = tidemarkCli({ TIDEMARK_SECRET: secret });
afterAll(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});

const pipelineFile = join(dir, 'pipeline.mjs');
writeFileSync(
  pipelineFile,
  `
import { count, eventTime, tumbling, windowBy } from ${JSON.stringify(join(root, 'src/index.ts'))};
export const pipeline = (events$) => events$.pipe(
  eventTime({ timestamp: (e) => e.at, maxOutOfOrderness: 20 }),
  windowBy({ key: (e) => e.page, window: tumbling(100), aggregate: count() }),
);
`,
);

/** A dashboard: follows the stream, reconnecting with Last-Event-ID, applying resets and changes. */
class Dashboard {
  readonly rows = new Map<string, ViewRow>();
  readonly ids: number[] = [];
  resets = 0;
  lastId: number | undefined;
  private abort = new AbortController();

  constructor(private readonly token: string) {}

  async follow(url: string): Promise<void> {
    this.abort = new AbortController();
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (this.lastId !== undefined) headers['last-event-id'] = String(this.lastId);
    const res = await fetch(`${url}/v1/views/stream`, { headers, signal: this.abort.signal });
    expect(res.status).toBe(200);
    void this.read(res).catch(() => undefined); // ends with the connection (the kill, or stop())
  }

  stop(): void {
    this.abort.abort();
  }

  private async read(res: Response): Promise<void> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!event || !data) continue;
        if (event === 'reset') {
          const reset = JSON.parse(data) as ViewReset;
          this.resets++;
          this.rows.clear();
          for (const r of reset.rows) this.rows.set(windowId(r), r);
          this.lastId = reset.lastEventId;
        } else {
          const change = JSON.parse(data) as ViewChange;
          this.ids.push(change.id);
          if (change.op === 'delete') this.rows.delete(windowId(change.row));
          else this.rows.set(windowId(change.row), change.row);
          this.lastId = change.id;
        }
      }
    }
  }
}

const strip = (rows: Iterable<ViewRow>) =>
  [...rows].map(({ key, start, end, value, source, final }) => ({ key, start, end, value, source, final })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.start - b.start));

describe('tidemark serve --pipeline, killed with SIGKILL during ingest', () => {
  it('comes back with the view of an uninterrupted run; a dashboard resuming with Last-Event-ID sees every change once', async () => {
    const data = join(dir, 'data');
    mkdirSync(data);
    const CLIENTS = 4;
    const BATCHES = 40;
    const PER = 100;
    const ids = Array.from({ length: CLIENTS }, (_, i) => `client-${i}`);
    const tokens = await Promise.all(ids.map((id) => tokenFor(secret, id)));
    const next = ids.map(() => 0);
    let server = await serve('--data', data, '--pipeline', pipelineFile);
    const dashboard = new Dashboard(await readerTokenFor(secret, 'wallboard'));
    await dashboard.follow(server.url);

    let acks = 0;
    let kill!: () => void;
    const killed = new Promise<void>((resolve) => {
      kill = () => {
        server.child.once('exit', () => resolve());
        server.child.kill('SIGKILL');
      };
    });
    const send = async (i: number, url: string, killAt = Number.POSITIVE_INFINITY) => {
      while (next[i]! < BATCHES) {
        const b = next[i]!;
        const events = Array.from({ length: PER }, (_, k) => {
          const seq = b * PER + k + 1;
          return { seq, ts: seq, data: { page: `/p${(seq + i) % 3}`, at: seq * 2 + i } };
        });
        const res = await fetch(`${url}/v1/ingest`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tokens[i]}` },
          body: JSON.stringify({ clientId: ids[i], events }),
        });
        expect(res.status).toBe(200);
        await res.json();
        next[i]!++;
        if (++acks === killAt) kill();
      }
    };
    await Promise.allSettled(ids.map((_, i) => send(i, server.url, 50)));
    await killed;
    expect(next.reduce((a, b) => a + b, 0)).toBeLessThan(CLIENTS * BATCHES); // mid-ingest
    const seenBeforeKill = dashboard.ids.length;
    expect(seenBeforeKill).toBeGreaterThan(0);

    server = await serve('--data', data, '--pipeline', pipelineFile);
    await dashboard.follow(server.url);
    await Promise.all(ids.map((_, i) => send(i, server.url)));
    const reader = await readerTokenFor(secret, 'check');
    const view = async () =>
      (await (await fetch(`${server.url}/v1/views`, { headers: { authorization: `Bearer ${reader}` } })).json()) as {
        rows: ViewRow[];
        lastEventId: number;
      };
    // Every change pushed reaches the dashboard.
    await until('the dashboard to see the last change', async () => dashboard.lastId === (await view()).lastEventId, { timeoutMs: 20_000, everyMs: 50 });
    const served = await view();
    dashboard.stop();
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));

    // Exactly once: one reset (the first connection), then consecutive ids, none twice, none missing.
    expect(dashboard.resets).toBe(1);
    const first = dashboard.ids[0]!;
    expect(dashboard.ids).toEqual(Array.from({ length: dashboard.ids.length }, (_, k) => first + k));
    expect(strip(dashboard.rows.values())).toEqual(strip(served.rows));

    // An uninterrupted run over the same log (a copy without the speed layer's checkpoint or changes).
    const fresh = join(dir, 'fresh');
    cpSync(join(data, 'log'), join(fresh, 'log'), { recursive: true });
    rmSync(join(fresh, 'log', 'LOCK'), { force: true });
    const log = await fileLog(join(fresh, 'log'));
    expect(log.stats().events).toBe(CLIENTS * BATCHES * PER);
    const speed = await globalSpeedLayer({ dataDir: fresh, log, pipeline: await loadPipeline(pipelineFile) });
    expect(strip(speed.rows({}).rows)).toEqual(strip(served.rows));
    expect(served.rows.length).toBeGreaterThan(100);
    await speed.close();
    await log.close();
  }, 120_000);
});
