// `tidemark serve | token | export | reconcile | replay` as a user runs them.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { fileLog, fileResults, tokenFor } from '../../src/server/index.js';
import { root, tidemarkCli } from './cli-process.js';

const dir = mkdtempSync(join(tmpdir(), 'tidemark-cli-'));
const { cli, serve, killAll } = tidemarkCli();
afterAll(() => {
  killAll();
  rmSync(dir, { recursive: true, force: true });
});
/** What a failing command printed and its exit code. */
const failure = (args: string[]) =>
  cli(...args).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );

const ingest = (url: string, clientId: string, token: string) =>
  fetch(`${url}/v1/ingest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify({ clientId, events: [{ seq: 1, ts: 0, data: { page: '/' } }] }),
  });

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
  it('usage: no command prints the usage and fails; help succeeds; unknown commands and bad flags fail', async () => {
    const none = await failure([]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no command given[\s\S]*Usage: tidemark <command>/);
    expect((await cli('help')).stdout).toMatch(/^Usage: tidemark <command>/);
    expect((await failure(['frobnicate'])).stderr).toMatch(/unknown command "frobnicate"/);
    expect((await failure(['serve', '--port', 'x', '--data', join(dir, 'u')])).stderr).toMatch(/--port/);
    expect((await failure(['serve', '--reconcile-every', '5', '--data', join(dir, 'u')])).stderr).toMatch(/--reconcile-every needs --pipeline/);
  });

  it('token never creates a secret: it says what to run; serve creates it, and the tokens it signs are accepted there', async () => {
    const data = join(dir, 'a');
    const missing = await failure(['token', 'c1', '--data', data]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`no signing secret: ${join(data, 'secret')} does not exist`);
    expect(missing.stderr).toContain(`npx tidemark serve --data ${data}`);
    expect(existsSync(data)).toBe(false); // nothing written, not even the directory

    const server = await serve('--data', data);
    expect(server.output()).toContain(`created a signing secret in ${join(data, 'secret')}`);
    const first = await cli('token', 'c1', '--data', data);
    const token = first.stdout.trim();
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{8}$/);
    expect((await cli('token', 'c1', '--data', data)).stdout.trim()).toBe(token);
    // The key id the token carries is the one the server announced.
    const keyId = token.split('.')[1]!;
    expect(server.output()).toContain(`key id ${keyId}`);
    expect(first.stderr).toContain(`key id ${keyId}`);
    expect((await ingest(server.url, 'c1', token)).status).toBe(200);

    // Signed with another secret (another --data): the 401 says so, with both key ids.
    const other = await cli('token', 'c1', '--secret', 'a secret of at least 16 bytes');
    expect(other.stdout.trim()).toBe(await tokenFor('a secret of at least 16 bytes', 'c1'));
    const refused = await ingest(server.url, 'c1', other.stdout.trim());
    expect(refused.status).toBe(401);
    const { error } = (await refused.json()) as { error: { message: string } };
    expect(error.message).toContain("signed with another secret than this server's");
    expect(error.message).toContain(`the server's ${keyId}`);
    // Another client's token, same secret: that is what the 401 says.
    const borrowed = await ingest(server.url, 'c2', token);
    expect(((await borrowed.json()) as { error: { message: string } }).error.message).toMatch(/issued to another client/);
    await expect(cli('token', '../x', '--data', data)).rejects.toThrow(/clientId/);
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
    const summary = (await cli('reconcile', '--pipeline', plain, '--data', data)).stdout;
    expect(summary).toMatch(/^reconciled 300 events of 1 client in \d+ ms/);
    const written = Number(/corrections written +(\d+)/.exec(summary)?.[1]);
    expect(written).toBeGreaterThan(0);
    expect(summary).toMatch(/pipeline failures +none/);
    const report = JSON.parse((await cli('reconcile', '--pipeline', plain, '--data', data, '--json')).stdout);
    expect(report).toMatchObject({ clients: 1, events: 300, written: 0, skipped: written });

    const diff = JSON.parse((await cli('replay', '--pipeline', filtered, '--baseline', plain, '--data', data)).stdout);
    expect(diff.onlyInBaseline).toBeGreaterThan(0); // the /p2 windows
    expect(diff.changed).toBe(0);
    await expect(cli('reconcile', '--data', data)).rejects.toThrow(/--pipeline/);
    await expect(cli('reconcile', '--pipeline', join(dir, 'missing.mjs'), '--data', data)).rejects.toThrow(/missing\.mjs/);
  });
});
