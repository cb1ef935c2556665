// `tidemark serve` as a real process, killed with SIGKILL in the middle of
// ingest and restarted: no acknowledged event is lost, none is duplicated.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileLog, jetStreamLog, tokenFor } from '../../src/server/index.js';
import { startNatsServer } from './nats.js';

const secret = 'kill test secret, long enough';
const root = join(import.meta.dirname, '../..');
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Starts `tidemark serve` on a free port; resolves with its base URL once it listens. */
function serve(data: string, extra: string[] = []): Promise<{ url: string; child: ChildProcess }> {
  const args = ['--import', 'tsx', 'src/server/cli.ts', 'serve', '--port', '0', '--data', data, '--secret', secret, ...extra];
  const child = spawn(process.execPath, args, {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /serving (http:\/\/[^/\s]+)\/v1/.exec(out);
      if (m) resolve({ url: m[1]!, child });
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.once('exit', (code) => reject(new Error(`tidemark serve exited (${code}): ${err}`)));
  });
}

const batch = (clientId: string, b: number, per: number) =>
  JSON.stringify({
    clientId,
    events: Array.from({ length: per }, (_, i) => ({ seq: b * per + i + 1, ts: b * per + i, data: { b, i } })),
  });

describe('tidemark serve, killed with SIGKILL mid-ingest', () => {
  it.each([10, 60, 150])('after %i acknowledged batches: every acknowledged event survives, none twice', async (killAt) => {
    const data = mkdtempSync(join(tmpdir(), 'tidemark-kill-'));
    dirs.push(data);
    const CLIENTS = 4;
    const BATCHES = 60;
    const PER = 200;
    const ids = Array.from({ length: CLIENTS }, (_, i) => `client-${i}`);
    const tokens = await Promise.all(ids.map((id) => tokenFor(secret, id)));
    /** Per client: the next batch to send (everything before it was acknowledged). */
    const next = ids.map(() => 0);
    let server = await serve(data);

    const send = async (i: number, url: string) => {
      while (next[i]! < BATCHES) {
        const res = await fetch(`${url}/v1/ingest`, {
          method: 'POST',
          headers: { authorization: `Bearer ${tokens[i]}` },
          body: batch(ids[i]!, next[i]!, PER),
        });
        expect(res.status).toBe(200);
        await res.json();
        next[i]!++;
        if (++acks === killAt) kill();
      }
    };
    // SIGKILL once `killAt` batches were acknowledged, while the others are in flight.
    let acks = 0;
    let kill!: () => void;
    const killed = new Promise<void>((resolve) => {
      kill = () => {
        server.child.once('exit', () => resolve());
        server.child.kill('SIGKILL');
      };
    });
    await Promise.allSettled(ids.map((_, i) => send(i, server.url)));
    await killed;
    const acknowledged = next.reduce((n, b) => n + b * PER, 0);
    expect(acknowledged).toBeLessThan(CLIENTS * BATCHES * PER); // the kill landed mid-ingest

    server = await serve(data);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const held = Number(/^tidemark_log_events (\d+)$/m.exec(metrics)?.[1]);
    expect(held).toBeGreaterThanOrEqual(acknowledged);
    // The clients go on from their last acknowledged batch: the one in flight
    // at the kill may be stored already, and is deduplicated if so.
    await Promise.all(ids.map((_, i) => send(i, server.url)));
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));

    const log = await fileLog(join(data, 'log'));
    const seen = new Map<string, Set<number>>();
    let total = 0;
    for await (const chunk of log.read())
      for (const e of chunk) {
        total++;
        const s = seen.get(e.clientId) ?? new Set<number>();
        seen.set(e.clientId, s.add(e.seq));
      }
    await log.close();
    expect(total).toBe(CLIENTS * BATCHES * PER);
    for (const id of ids) expect(seen.get(id)?.size).toBe(BATCHES * PER);
  });
});

describe('two tidemark serve processes on one JetStream stream', () => {
  it('take the same and overlapping batches at once: every event once', async () => {
    const nats = await startNatsServer();
    try {
      const data = [mkdtempSync(join(tmpdir(), 'tidemark-js-a-')), mkdtempSync(join(tmpdir(), 'tidemark-js-b-'))];
      dirs.push(...data);
      const a = await serve(data[0]!, ['--nats', nats.url]);
      const b = await serve(data[1]!, ['--nats', nats.url]);
      const CLIENTS = 3;
      const BATCHES = 30;
      const PER = 100;
      const ids = Array.from({ length: CLIENTS }, (_, i) => `js-client-${i}`);
      const tokens = await Promise.all(ids.map((id) => tokenFor(secret, id)));
      // Each client sends every batch to both servers at once, and a batch
      // overlapping the previous one by half to one of them.
      const post = async (url: string, i: number, body: string) => {
        const res = await fetch(`${url}/v1/ingest`, { method: 'POST', headers: { authorization: `Bearer ${tokens[i]}` }, body });
        expect(res.status).toBe(200);
        return (await res.json()) as { appended: number };
      };
      let appended = 0;
      await Promise.all(
        ids.map(async (id, i) => {
          for (let k = 0; k < BATCHES; k++) {
            const overlap = JSON.stringify({
              clientId: id,
              events: Array.from({ length: PER }, (_, j) => ({ seq: k * PER + j + 1 - PER / 2, ts: j, data: { k, j } })).filter((e) => e.seq >= 1),
            });
            const outs = await Promise.all([post(a.url, i, batch(id, k, PER)), post(b.url, i, batch(id, k, PER)), post(k % 2 ? a.url : b.url, i, overlap)]);
            appended += outs.reduce((n, o) => n + o.appended, 0);
          }
        }),
      );
      expect(appended).toBe(CLIENTS * BATCHES * PER);
      a.child.kill('SIGTERM');
      b.child.kill('SIGTERM');
      const log = await jetStreamLog({ servers: nats.url });
      const seen = new Map<string, number[]>();
      for await (const chunk of log.read()) for (const e of chunk) seen.set(e.clientId, [...(seen.get(e.clientId) ?? []), e.seq]);
      await log.close();
      for (const id of ids) expect(seen.get(id)!.sort((x, y) => x - y)).toEqual(Array.from({ length: BATCHES * PER }, (_, j) => j + 1));
    } finally {
      await nats.stop();
    }
  });
});
