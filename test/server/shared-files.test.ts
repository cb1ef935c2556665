// Files shared by processes: a read-only snapshot of the file log beside its
// writer; the corrections file written in turn and followed; the results
// file read beside its writer; POST /v1/reconcile on the handler.
import { appendFileSync, mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchRunningError, StorageError } from '../../src/errors.js';
import {
  adminTokenFor,
  createHandler,
  fileCorrections,
  fileLog,
  fileResults,
  memoryLog,
  readFileLog,
  tokenFor,
} from '../../src/server/index.js';

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'tidemark-shared-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const events = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ seq: from + i, ts: from + i, data: { i: from + i } }));
async function all(log: { read(): AsyncIterable<readonly { clientId: string; seq: number }[]> }) {
  const out: string[] = [];
  for await (const chunk of log.read()) for (const e of chunk) out.push(`${e.clientId}/${e.seq}`);
  return out;
}

describe('readFileLog: a snapshot beside the writer', () => {
  it('reads what is durable with no lock, leaves a frame being written alone, and the writer goes on', async () => {
    const dir = tempDir();
    const log = await fileLog(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 30; i++) await log.append('c1', events(1 + i * 10, 10), 1);
    for (let i = 0; i < 5; i++) await log.append('c2', events(1 + i * 10, 10), 2);
    const segments = log.diagnostics().segments;
    expect(segments).toBeGreaterThan(1);
    // A frame half written at the end of the last segment (a write in progress, as another process sees it).
    const last = join(dir, `events-${String(segments).padStart(8, '0')}.log`);
    const size = statSync(last).size;
    appendFileSync(last, Buffer.from([200, 0, 0, 0, 1, 2, 3]));
    const snapshot = await readFileLog(dir);
    expect(snapshot.segments).toBe(segments);
    expect(snapshot.clients().map((c) => [c.clientId, c.ackedThrough])).toEqual([
      ['c1', 300],
      ['c2', 50],
    ]);
    expect(await all(snapshot)).toHaveLength(350);
    expect(statSync(last).size).toBe(size + 7); // nothing cut: the writer owns its tail
    await expect(snapshot.append('c1', events(301, 1), 3)).rejects.toThrow(/read-only snapshot .* append through the process that serves it/);
    truncateSync(last, size); // the "write" ends as the writer's own would
    await log.append('c1', events(301, 10), 3);
    expect(await all(snapshot)).toHaveLength(350); // a snapshot: later appends are in the next one
    expect(await all(await readFileLog(dir))).toHaveLength(360);
    await log.close();
  });

  it('refuses a directory without a log, and damage before the tail, as opening the log would', async () => {
    await expect(readFileLog(join(tempDir(), 'nowhere'))).rejects.toThrow(/there is no log in .*nowhere.*point --data/);
    const dir = tempDir();
    const log = await fileLog(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 20; i++) await log.append('c1', events(1 + i * 10, 10), 1);
    expect(log.diagnostics().segments).toBeGreaterThan(1);
    await log.close();
    const first = join(dir, 'events-00000001.log');
    truncateSync(first, statSync(first).size - 5);
    await expect(readFileLog(dir)).rejects.toThrow(StorageError);
    await expect(readFileLog(dir)).rejects.toThrow(/is damaged at byte \d+/);
  });
});

const correction = (clientId: string, start: number, batch: number) => ({ clientId, key: 'k', start, end: start + 10, speed: null, batch, at: 0 });

describe('fileCorrections shared by processes', () => {
  it("numbers each writer's corrections after the other's, and refresh() reads them; a line a dead writer tore is cut before the next write", async () => {
    const dir = tempDir();
    const server = await fileCorrections(dir); // the serving process
    const batch = await fileCorrections(dir); // a tidemark reconcile, writing in turn
    await batch.write([correction('c1', 0, 1), correction('c1', 10, 2)]);
    expect(server.since('c1', 0).corrections).toHaveLength(0);
    await server.refresh();
    expect(server.since('c1', 0)).toMatchObject({ cursor: 2, corrections: [{ cursor: 1 }, { cursor: 2 }] });
    // The server's own batch run writes next: after the other's lines, never over them.
    expect((await server.write([correction('c2', 0, 3)]))[0]?.cursor).toBe(3);
    // The other dies in the middle of a write (kill -9): a torn line.
    appendFileSync(join(dir, 'corrections.ndjson'), '[{"clientId":"c1","cursor":4,"key":"k"');
    await server.refresh(); // a reader leaves it: its writer may still be writing
    expect(server.cursor()).toBe(3);
    const next = await fileCorrections(dir); // the next batch run
    expect((await next.write([correction('c1', 20, 4)]))[0]?.cursor).toBe(4);
    await server.refresh();
    expect(server.since('c1', 2).corrections.map((c) => [c.cursor, c.batch])).toEqual([[4, 4]]);
    await Promise.all([server.close(), batch.close(), next.close()]);
    const reopened = await fileCorrections(dir);
    expect(reopened.cursor()).toBe(4);
    await reopened.close();
  });
});

describe('fileResults read-only', () => {
  it('reads beside the writer: nothing created or cut, and put refuses', async () => {
    const none = await fileResults(join(tempDir(), 'none'), { readOnly: true });
    expect(none.clients()).toEqual([]);
    const dir = tempDir();
    const writer = await fileResults(dir);
    await writer.put('c1', [{ key: 'a', start: 0, end: 10, value: 1, pane: 0 }], 5, 20);
    appendFileSync(join(dir, 'results.ndjson'), '{"clientId":"c1","rece'); // an upload being written
    const size = statSync(join(dir, 'results.ndjson')).size;
    const reader = await fileResults(dir, { readOnly: true });
    expect(reader.report('c1')).toEqual({ watermark: 20, lastSeen: 5 });
    expect(reader.get('c1')).toHaveLength(1);
    expect(statSync(join(dir, 'results.ndjson')).size).toBe(size);
    await expect(reader.put('c1', [], 6)).rejects.toThrow(/read-only here: its writer is another process/);
    await Promise.all([reader.close(), writer.close()]);
  });
});

describe('POST /v1/reconcile', () => {
  const secret = 'a secret of at least 16 bytes';
  const post = (handler: (r: Request) => Promise<Response>, token?: string) =>
    handler(new Request('http://x/v1/reconcile', { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} }));

  it('runs the batch layer for the admin token only: 401 for a client token, 404 without a batch layer, 409 while another runs', async () => {
    const admin = await adminTokenFor(secret);
    expect(admin).not.toBe(await tokenFor(secret, 'c1'));
    const none = await createHandler({ log: memoryLog(), secret });
    expect((await post(none, admin)).status).toBe(404);
    let runs = 0;
    let busy = false;
    const handler = await createHandler({
      log: memoryLog(),
      secret,
      reconcile: async () => {
        if (busy) throw new BatchRunningError('a batch run over ./data is under way in process 42');
        return { run: ++runs };
      },
    });
    expect((await post(handler)).status).toBe(401);
    const client = await post(handler, await tokenFor(secret, 'c1'));
    expect(client.status).toBe(401);
    expect(await client.json()).toMatchObject({ error: { message: expect.stringMatching(/not the admin token/) } });
    const other = await post(handler, await adminTokenFor('another secret, 16 bytes or more'));
    expect(((await other.json()) as { error: { message: string } }).error.message).toMatch(/another secret than this server's/);
    const ok = await post(handler, admin);
    expect([ok.status, await ok.json()]).toEqual([200, { run: 1 }]);
    busy = true;
    const conflict = await post(handler, admin);
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toMatchObject({ error: { message: expect.stringMatching(/under way in process 42/) } });
    expect(runs).toBe(1);
    const get = await handler(new Request('http://x/v1/reconcile', { headers: { authorization: `Bearer ${admin}` } }));
    expect(get.status).toBe(405);
  });
});
