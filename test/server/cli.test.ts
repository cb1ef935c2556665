// `tidemark token | export | reconcile | replay` as a user runs them.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { fileLog, fileResults, tokenFor } from '../../src/server/index.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'tidemark-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = (...args: string[]) => run(process.execPath, ['--import', 'tsx', 'src/server/cli.ts', ...args], { cwd: root });

/** A pipeline module as a user writes one; `only` keeps some pages (a changed version). */
const pipelineModule = (only = '() => true') => `
import { count, eventTime, filterRecords, tumbling, windowBy } from ${JSON.stringify(join(root, 'src/index.ts'))};
export const pipeline = (events$) => events$.pipe(
  eventTime({ timestamp: (e) => e.ts, maxOutOfOrderness: 10 }),
  filterRecords(${only}),
  windowBy({ key: (e) => e.page, window: tumbling(100), aggregate: count() }),
);
`;

describe('tidemark CLI', () => {
  it('token: the secret is created once in the data dir and tokens verify against it', async () => {
    const data = join(dir, 'a');
    const first = (await cli('token', 'c1', '--data', data)).stdout.trim();
    const again = (await cli('token', 'c1', '--data', data)).stdout.trim();
    expect(first).toBe(again);
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await cli('token', 'c1', '--secret', 'a secret of at least 16 bytes')).stdout.trim()).toBe(
      await tokenFor('a secret of at least 16 bytes', 'c1'),
    );
    await expect(cli('token', '../x', '--data', data)).rejects.toThrow(/clientId/);
    await expect(cli('serve', '--port', 'x', '--data', data)).rejects.toThrow(/--port/);
    await expect(cli('frobnicate')).rejects.toThrow(/unknown command/);
  });

  it('export prints NDJSON; reconcile writes corrections once; replay lists the windows that differ', async () => {
    const data = join(dir, 'b');
    const log = await fileLog(join(data, 'log'));
    const events = Array.from({ length: 300 }, (_, i) => ({ seq: i + 1, ts: i * 2, data: { page: `/p${i % 3}`, ts: i * 2 } }));
    await log.append('c1', events, 1234);
    await log.close();
    const results = await fileResults(join(data, 'results'));
    await results.put('c1', [{ key: '/p0', start: 0, end: 100, value: 1, pane: 0 }], 1, 1_000);
    await results.close();

    const lines = (await cli('export', '--data', data)).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(300);
    expect(lines[0]).toEqual({ clientId: 'c1', seq: 1, ts: 0, receivedAt: 1234, data: { page: '/p0', ts: 0 } });

    const plain = join(dir, 'plain.mjs');
    const filtered = join(dir, 'filtered.mjs');
    writeFileSync(plain, pipelineModule());
    writeFileSync(filtered, pipelineModule("(e) => e.page !== '/p2'"));
    const report = JSON.parse((await cli('reconcile', '--pipeline', plain, '--data', data)).stdout);
    expect(report).toMatchObject({ clients: 1, events: 300 });
    expect(report.written).toBeGreaterThan(0);
    expect(JSON.parse((await cli('reconcile', '--pipeline', plain, '--data', data)).stdout).written).toBe(0);

    const diff = JSON.parse((await cli('replay', '--pipeline', filtered, '--baseline', plain, '--data', data)).stdout);
    expect(diff.onlyInBaseline).toBeGreaterThan(0); // the /p2 windows
    expect(diff.changed).toBe(0);
    await expect(cli('reconcile', '--data', data)).rejects.toThrow(/--pipeline/);
    await expect(cli('reconcile', '--pipeline', join(dir, 'missing.mjs'), '--data', data)).rejects.toThrow(/missing\.mjs/);
  });
});
