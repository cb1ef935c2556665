// The README's three quick starts, run as a newcomer runs them: from the
// packed tarball (`npm pack`), installed into a scratch app (offline, from the
// npm cache; see scratch-app.ts), with the files the README shows written as
// they stand there. The web app runs under `npx vite` in Chromium, the server
// is `npx tidemark serve`, the edge bundle comes from `npx tidemark build-edge`
// and runs under workerd, forwarding to that server. docs/sync.md's token
// recipe (a Node server and an edge worker) runs from the same app.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Chromium, launch } from '../browser/chromium.js';
import { startWorkerd } from '../edge/workerd.js';
import { until } from '../helpers.js';
import { installScratchApp, run } from './scratch-app.js';

const root = join(import.meta.dirname, '../..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const syncPage = readFileSync(join(root, 'docs/sync.md'), 'utf8');
let dir = '';
let app = '';
let npmOutput = '';
const children: ChildProcess[] = [];
const workers: Miniflare[] = [];
let chromium: Chromium | undefined;

/** The blocks of a Markdown page that name their file in their first line (`// pipeline.js: …`, `<!-- index.html -->`). */
function namedBlocks(markdown: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of markdown.matchAll(/^```\w+\n([\s\S]*?)^```$/gm)) {
    const code = m[1] ?? '';
    const name = /^(?:\/\/|<!--) ([\w.-]+\.(?:js|ts|html))(?::| -->|$)/.exec(code)?.[1];
    if (name) out.set(name, code);
  }
  return out;
}

/** Fails unless the README shows `command` as it is run here. */
function shown(command: string): string {
  expect(readme.includes(command), `the README shows \`${command}\``).toBe(true);
  return command;
}

/** Runs a command line of the README in the app, through the shell as a user would. */
const sh = (command: string, cwd = app) => run('bash', ['-c', command], { cwd, maxBuffer: 16 * 1024 * 1024 });
/** What a failing command printed and its exit code. */
const fails = (command: string, cwd = app) =>
  sh(command, cwd).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
  );

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

/** Starts a long-running command; resolves with its output once `ready` matches it. */
function start(command: string, args: string[], cwd: string, ready: RegExp): Promise<{ match: RegExpExecArray; output: () => string }> {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    const check = (d: Buffer) => {
      out += d.toString();
      const match = ready.exec(out);
      if (match) resolve({ match, output: () => out });
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) => reject(new Error(`${command} ${args.join(' ')} exited (${code}):\n${out}`)));
  });
}

/** Whether any process of `child`'s group (npx and what it started) is still running. */
function running(child: ChildProcess): boolean {
  try {
    process.kill(-(child.pid ?? 0), 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops a process started by {@link start} and everything it started; resolves once they are gone. */
async function stop(child: ChildProcess): Promise<void> {
  if (!child.pid || !running(child)) return;
  process.kill(-child.pid, 'SIGTERM');
  await until('the processes stopped', () => !running(child), { timeoutMs: 15_000, everyMs: 50 });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tidemark-quick-starts-'));
  // `npm pack` builds first (prepack), as `npm publish` would.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
  // The build's own output comes first; npm's JSON starts on a line of its own.
  const packed = JSON.parse(stdout.slice(stdout.search(/^\[$/m))) as { filename: string }[];
  app = join(dir, 'app');
  mkdirSync(app);
  npmOutput = await installScratchApp(app, root, join(dir, packed[0]!.filename), ['rxjs'], ['vite', 'esbuild']);
  for (const [name, code] of namedBlocks(readme)) writeFileSync(join(app, name), code);
}, 180_000);

afterAll(async () => {
  await chromium?.dispose();
  for (const mf of workers) await mf.dispose().catch(() => undefined);
  for (const c of children) await stop(c);
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 60_000);

describe('the packed package, installed in a scratch app', () => {
  it('installs without the optional peers, and what needs them says what to install', async () => {
    expect(npmOutput).not.toMatch(/EBADENGINE|ERESOLVE/);
    expect(existsSync(join(app, 'node_modules/@nats-io'))).toBe(false);
    const pkg = join(app, 'node_modules/tidemark');
    expect(readFileSync(join(pkg, 'LICENSE'), 'utf8')).toMatch(/^MIT License/);
    // Every relative link of the README and the docs resolves inside the installed package.
    const pages = [join(pkg, 'README.md'), ...readdirSync(join(pkg, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(pkg, 'docs', f))];
    const broken: string[] = [];
    for (const page of pages)
      for (const m of readFileSync(page, 'utf8').matchAll(/!?\[[^\]]*\]\(([^)\s#]+)[^)]*\)/g))
        if (!/^[a-z]+:/i.test(m[1]!) && !existsSync(resolve(dirname(page), m[1]!))) broken.push(`${page}: ${m[1]}`);
    expect(broken).toEqual([]);

    // tidemark/server loads without the NATS client; --nats says what to install.
    await sh(`node -e "import('tidemark/server').then((m) => { if (typeof m.createHandler !== 'function') process.exit(1); })"`);
    const nats = await fails('npx tidemark serve --port 0 --data ./nats-data --nats nats://127.0.0.1:4222 --secret a-shared-secret');
    expect(nats.code).toBe(1);
    expect(nats.stderr).toContain('MissingDependencyError: the JetStream log needs @nats-io/transport-node and @nats-io/jetstream');
    expect(nats.stderr).toContain('npm install @nats-io/transport-node@^3.4.0 @nats-io/jetstream@^3.4.0');
    // No command: the usage, and a failure.
    const none = await fails('npx tidemark');
    expect([none.code, /Usage: tidemark <command>/.test(none.stderr)]).toEqual([1, true]);
    // build-edge without esbuild says to install it.
    renameSync(join(app, 'node_modules/esbuild'), join(app, 'esbuild-aside'));
    try {
      const edge = await fails('npx tidemark build-edge pipeline.js dist-edge');
      expect(edge.stderr).toContain('MissingDependencyError: tidemark build-edge needs esbuild');
      expect(edge.stderr).toContain('npm install esbuild@>=0.18');
    } finally {
      renameSync(join(app, 'esbuild-aside'), join(app, 'node_modules/esbuild'));
    }
  }, 60_000);

  it('web app: `npx vite` serves the page; clicks are counted in the worker, and survive a reload', async () => {
    shown('npm install tidemark rxjs && npm install -D vite'); // installed by the scratch app, offline
    // A new app (npm init -y writes "type": "commonjs") without the README's first line: its
    // pipeline.js does not load, and the CLI says why.
    await sh('npm pkg set type=commonjs');
    const cjs = await fails('npx tidemark reconcile --pipeline ./pipeline.js --data ./cjs-data');
    expect(cjs.stderr).toMatch(/ES module in a CommonJS package: add "type": "module" to the package.json \(npm pkg set type=module\)/);
    await sh(shown('npm pkg set type=module'));
    const port = await freePort();
    // `npx vite`, on a port of this test's choosing.
    await start('npx', ['vite', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], app, /ready in/);
    chromium = await launch();
    const page = await chromium.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The page has no favicon: the browser's request for one fails, and says so on the console.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`console: ${m.text()}`);
    });
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForSelector('#out');
    /** The counts the page shows: each line ends with a window's latest value. */
    const total = async () =>
      (await page.locator('#out').innerText())
        .split('\n')
        .map((line) => Number(/ (\d+)$/.exec(line)?.[1] ?? 0))
        .reduce((a, b) => a + b, 0);
    // The first click may come before the runtime has started: click until it counts.
    await until('the first click counted', async () => {
      if ((await total()) > 0) return true;
      await page.mouse.click(50, 50);
      return false;
    }, { timeoutMs: 30_000, everyMs: 500 });
    const first = await total();
    for (let i = 0; i < 3; i++) await page.mouse.click(50, 50);
    await until('three more clicks counted', async () => (await total()) === first + 3, { timeoutMs: 15_000, everyMs: 100 });
    await page.reload();
    await until('the counts restored after a reload', async () => (await total()) === first + 3, { timeoutMs: 30_000, everyMs: 200 });
    expect(errors).toEqual([]);
  }, 120_000);

  let server = '';
  let serving: ChildProcess | undefined;
  /** `GET /v1/corrections` of a client, as the README's second curl asks it. */
  const corrections = async (clientId: string, token: string) =>
    (await fetch(`${server}/v1/corrections?clientId=${clientId}`, { headers: { authorization: `Bearer ${token}` } })).text();

  it("server: `npx tidemark serve --pipeline`, a token, two events, and the batch run's correction", async () => {
    const port = await freePort();
    // The README's command, on a port of this test's choosing, reconciling every second instead of every minute.
    const command = shown('npx tidemark serve --data ./tidemark-data --pipeline ./pipeline.js');
    const started = await start('npx', [...command.split(' ').slice(1), '--port', String(port), '--reconcile-every', '1'], app, /serving (http:\/\/\S+)\/v1/);
    serving = children.at(-1);
    server = started.match[1]!;
    expect(started.output()).toContain('created a signing secret');
    const token = (await sh(shown('TOKEN=$(npx tidemark token laptop-1 --data ./tidemark-data)').replace(/^TOKEN=\$\((.*)\)$/, '$1'))).stdout.trim();
    // The README's curl, sent with fetch (curl need not be installed).
    const body = /-d '([^']+)'/.exec(readme)?.[1];
    expect(body).toBeDefined();
    const send = async () =>
      (await fetch(`${server}/v1/ingest`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body })).text();
    expect(await send()).toBe(/The answer is `([^`]+)`/.exec(readme)?.[1]);
    expect(JSON.parse(await send())).toEqual({ ackedThrough: 2, appended: 0, duplicates: 2, gaps: [] }); // "sending it again appends nothing"
    shown('curl -s "http://127.0.0.1:8787/v1/corrections?clientId=laptop-1" -H "authorization: Bearer $TOKEN"');
    await until('the batch run corrected laptop-1', async () => (await corrections('laptop-1', token)).includes('"speed":null,"batch":2'), {
      timeoutMs: 30_000,
      everyMs: 250,
    });
    // The run reports once it has ended, a moment after its corrections are served.
    const report = /reconciled 2 events of 1 client in \d+ ms .*; 1 correction written/;
    await until('the batch run to report', () => report.test(started.output()), { timeoutMs: 10_000, everyMs: 50 }).catch(() => undefined);
    expect(started.output()).toMatch(report);
  }, 120_000);

  it('edge: `npx tidemark build-edge pipeline.js dist-edge` runs under workerd and forwards to the server', async () => {
    expect(server).not.toBe('');
    const built = (await sh(shown('npx tidemark build-edge pipeline.js dist-edge --partitions 4'))).stdout;
    expect(built).toMatch(/dist-edge\/worker\.mjs: [\d.]+ kB, [\d.]+ kB gzipped \(entry generated from the pipeline module\)/);
    const toml = readFileSync(join(app, 'dist-edge/wrangler.toml'), 'utf8');
    const binding = /\[\[durable_objects\.bindings\]\]\nname = "(\w+)"\nclass_name = "(\w+)"/.exec(toml);
    const secret = readFileSync(join(app, 'tidemark-data/secret'), 'utf8').trim(); // "its secret is the server's"
    const { mf, url } = await startWorkerd({
      script: join(app, 'dist-edge/worker.mjs'),
      persist: join(dir, 'edge-persist'),
      durableObjects: { [binding![1]!]: binding![2]! },
      bindings: { TIDEMARK_SECRET: secret, TIDEMARK_UPSTREAM: server },
    });
    workers.push(mf);
    const token = (await sh('npx tidemark token phone-1 --data ./tidemark-data')).stdout.trim();
    const events = [1, 2, 3].map((seq) => ({ seq, ts: 61_000 + seq, data: { page: '/docs', ts: 61_000 + seq } }));
    const res = await fetch(new URL('/v1/ingest', url), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ clientId: 'phone-1', events }),
    });
    expect(await res.json()).toEqual({ ackedThrough: 3, appended: 3, duplicates: 0, gaps: [] });
    const reader = (await sh('npx tidemark token tidemark-results --data ./tidemark-data')).stdout.trim();
    const results = (await (await fetch(new URL('/v1/results', url), { headers: { authorization: `Bearer ${reader}` } })).json()) as {
      partitions: { windows: { key: string; value: number }[] }[];
    };
    expect(results.partitions.flatMap((p) => p.windows)).toMatchObject([{ key: '/docs', start: 60_000, end: 120_000, value: 3 }]);
    // Forwarded by the partition's alarm to `npx tidemark serve`, as phone-1, and counted there by the batch layer.
    await until('the edge forwarded the events to the server', async () => (await corrections('phone-1', token)).includes('"batch":3'), {
      timeoutMs: 30_000,
      everyMs: 250,
    });
  }, 120_000);

  it('the served view: a reader token, GET /v1/views and the stream, across both clients', async () => {
    expect(server).not.toBe('');
    const reader = (await sh(shown('READER=$(npx tidemark token --reader wallboard --data ./tidemark-data)').replace(/^READER=\$\((.*)\)$/, '$1'))).stdout.trim();
    shown('curl -s "http://127.0.0.1:8787/v1/views?from=0&to=3600000" -H "authorization: Bearer $READER"');
    const views = async () =>
      (await (await fetch(`${server}/v1/views?from=0&to=3600000`, { headers: { authorization: `Bearer ${reader}` } })).json()) as {
        rows: { key: string; start: number; value: number; source: string; final: boolean }[];
      };
    // The batch layer, run every second here, computed both windows: [0, 60 000) is final (both clients
    // are past it), [60 000, 120 000) is not (laptop-1 may still send events in it). The global speed
    // layer fires neither while laptop-1's watermark (1 999) holds the global one: the second is then
    // served with its batch value, not final; once both clients have been quiet for the idle timeout
    // (60 s) the watermark follows the clock and the speed layer's own value (the same 3) is served.
    await until('the batch values in the served view', async () => (await views()).rows.length === 2, { timeoutMs: 30_000, everyMs: 250 });
    const rows = (await views()).rows;
    expect(rows).toMatchObject([
      { key: '/', start: 0, end: 60_000, value: 2, source: 'batch', final: true },
      { key: '/docs', start: 60_000, end: 120_000, value: 3, final: false },
    ]);
    expect(['batch', 'speed']).toContain(rows[1]!.source);
    shown('curl -sN http://127.0.0.1:8787/v1/views/stream -H "authorization: Bearer $READER"');
    const stream = await fetch(`${server}/v1/views/stream`, { headers: { authorization: `Bearer ${reader}` } });
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const reader2 = stream.body!.getReader();
    let text = '';
    while (!text.includes('event: reset')) text += new TextDecoder().decode((await reader2.read()).value);
    await reader2.cancel();
    // A client's token does not read the view across clients.
    const laptop = (await sh('npx tidemark token laptop-1 --data ./tidemark-data')).stdout.trim();
    expect((await fetch(`${server}/v1/views`, { headers: { authorization: `Bearer ${laptop}` } })).status).toBe(401);
  }, 60_000);

  it('beside the running server: `npx tidemark reconcile` and `npx tidemark export`', async () => {
    expect(serving?.exitCode).toBeNull(); // still serving, and running its own batch runs every second
    const summary = (await sh(shown('npx tidemark reconcile --pipeline ./pipeline.js --data ./tidemark-data'))).stdout;
    expect(summary).toMatch(/^reconciled 5 events of 2 clients in \d+ ms/);
    expect(summary).toMatch(/corrections written +0\n/); // the server's own runs wrote them already
    const report = JSON.parse((await sh('npx tidemark reconcile --pipeline ./pipeline.js --data ./tidemark-data --json')).stdout);
    expect(report).toMatchObject({ clients: 2, events: 5, written: 0, failures: [] });
    expect(report.global).toMatchObject([
      { key: '/', start: 0, end: 60_000, value: 2 },
      { key: '/docs', start: 60_000, end: 120_000, value: 3 },
    ]);
    const exported = (await sh(shown('npx tidemark export --data ./tidemark-data'))).stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(exported.map((e) => `${e.clientId}#${e.seq}`).sort()).toEqual(['laptop-1#1', 'laptop-1#2', 'phone-1#1', 'phone-1#2', 'phone-1#3']);
    if (serving) await stop(serving);
  }, 60_000);
});

describe("docs/sync.md's token recipe, from the installed package", () => {
  const blocks = namedBlocks(syncPage);
  const write = (into: string, names: string[]) => {
    mkdirSync(into, { recursive: true });
    for (const name of names) writeFileSync(join(into, name), blocks.get(name) ?? namedBlocks(readme).get(name) ?? '');
  };
  /** The token route's answers to alice, bob and nobody, and whether alice's token is accepted by ingest at `ingest`. */
  async function exercise(base: URL | string, ingest: URL | string) {
    const ask = (clientId: string, user?: string) =>
      fetch(new URL(`/api/tidemark-token?clientId=${clientId}`, base), user ? { headers: { cookie: `user=${user}` } } : {});
    expect((await ask('laptop-9')).status).toBe(401);
    const mine = await ask('laptop-9', 'alice');
    expect(mine.status).toBe(200);
    const token = await mine.text();
    expect((await ask('laptop-9', 'alice')).status).toBe(200); // again: the id is alice's
    expect((await ask('laptop-9', 'bob')).status).toBe(403); // alice's device, not bob's
    expect((await ask('../x', 'bob')).status).toBe(400);
    const res = await fetch(new URL('/v1/ingest', ingest), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify({ clientId: 'laptop-9', events: [{ seq: 1, ts: 5, data: { page: '/', ts: 5 } }] }),
    });
    expect(await res.json()).toEqual({ ackedThrough: 1, appended: 1, duplicates: 0, gaps: [] });
  }

  it('in a Node server: server.ts with token-route.ts', async () => {
    const into = join(app, 'recipe-node');
    write(into, ['token-route.ts', 'login.ts', 'server.ts']);
    // server.ts as shown, on a port of this test's choosing; TypeScript through tsx, as the page says.
    writeFileSync(join(into, 'server.ts'), (blocks.get('server.ts') ?? '').replace('port: 8787', 'port: 0'));
    const tsx = join(root, 'node_modules/tsx/dist/loader.mjs');
    const started = await start(process.execPath, ['--import', tsx, 'server.ts'], into, /ingest at (http:\/\/\S+)\/v1,/);
    await exercise(started.match[1]!, started.match[1]!);
  }, 60_000);

  it('in an edge worker: token-edge.ts built with `npx tidemark build-edge`, under workerd', async () => {
    const into = join(app, 'recipe-edge');
    write(into, ['token-route.ts', 'login.ts', 'token-edge.ts', 'pipeline.js']);
    await sh('npx tidemark build-edge token-edge.ts dist-edge', into);
    const { mf, url } = await startWorkerd({
      script: join(into, 'dist-edge/worker.mjs'),
      persist: join(dir, 'recipe-persist'),
      durableObjects: { PARTITIONS: 'EdgePartition' },
      kvNamespaces: ['OWNERS'],
      bindings: { TIDEMARK_SECRET: 'the recipe secret, long enough', TIDEMARK_UPSTREAM: 'http://127.0.0.1:9' },
    });
    workers.push(mf);
    await exercise(url, url);
  }, 60_000);
});
