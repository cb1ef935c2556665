/// <reference types="node" />
/**
 * The playground's server (`npm start`): the built page, Tidemark's ingest
 * handler with the embedded file log, the global speed layer serving the
 * view across every tab (`GET /v1/views`, `GET /v1/views/stream`), and five
 * routes only a playground has, all on one port:
 *
 * - `GET /demo/token?clientId=` hands out any client's token. A real app
 *   issues tokens after its own login; never expose this route.
 * - `GET /demo/reader-token?name=` hands out a reader token (it reads the
 *   view across all clients) for the Dashboard panel. A real app gives reader
 *   tokens to its dashboards only (`npx tidemark token --reader <name>`);
 *   never expose this route either.
 * - `POST /demo/reconcile` `{ clientId, config }` runs the batch layer for
 *   that client with the pipeline the page picked, and answers the report
 *   and the corrections it wrote.
 * - `POST /demo/batch` runs the batch layer over all clients with the
 *   default pipeline (the one the global speed layer runs) and hands its
 *   windows and frontier to the served view; it writes no per-client
 *   correction (tabs may run other pipelines). Answers a summary.
 * - `GET /demo/export?clientId=` answers the client's events as the log
 *   holds them (what `npx tidemark export --client` prints).
 *
 * Options: `--port` (default 8787, or `$PORT`), `--host` (127.0.0.1),
 * `--data` (default `./tidemark-data/playground`), `--dist` (default `demo/dist`).
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isClientId } from 'tidemark/protocol';
import {
  createHandler,
  fileCorrections,
  fileLog,
  fileResults,
  globalSpeedLayer,
  listen,
  memoryCorrections,
  readerTokenFor,
  reconcile,
  secretIn,
  tokenFor,
} from 'tidemark/server';
import { DEFAULT_CONFIG, parseConfig, pipelineFor } from './src/pipeline.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values: flags } = parseArgs({
  options: { port: { type: 'string' }, host: { type: 'string' }, data: { type: 'string' }, dist: { type: 'string' } },
});
const port = Number(flags.port ?? process.env['PORT'] ?? 8787);
const host = flags.host ?? '127.0.0.1';
const dataDir = resolve(flags.data ?? 'tidemark-data/playground');
const dist = resolve(flags.dist ?? join(here, 'dist'));
if (!existsSync(join(dist, 'index.html'))) {
  console.error(`playground: ${join(dist, 'index.html')} is missing; build the page first (npm run build:demo)`);
  process.exit(1);
}
const { secret } = secretIn(dataDir);

const log = await fileLog(join(dataDir, 'log'));
const results = await fileResults(join(dataDir, 'results'));
const corrections = await fileCorrections(join(dataDir, 'corrections'));
/**
 * A tab silent this long (closed, offline, paused) stops holding the global
 * watermark back, and the global batch run treats its windows as final.
 */
const IDLE_MS = 10_000;
// The view across all tabs runs the default pipeline: a tab that picked another one still
// feeds it its clicks, counted the default way. Started before `listen`: it catches up from
// the log, then follows what ingest appends.
const speed = await globalSpeedLayer({
  dataDir,
  log,
  pipeline: pipelineFor(DEFAULT_CONFIG),
  idleTimeout: IDLE_MS,
  onError: (e) => console.error(`playground: global speed layer: ${(e as Error).message ?? e}`),
});
const ingest = await createHandler({ log, secret, results, corrections, views: speed, metrics: () => speed.metrics() });

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.map': 'application/json',
};

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** A file of the built page; `/` is `index.html`. Paths never leave `dist`. */
async function staticFile(pathname: string): Promise<Response> {
  try {
    const file = normalize(join(dist, decodeURIComponent(pathname === '/' ? '/index.html' : pathname)));
    if (!file.startsWith(dist + sep)) return new Response('not found', { status: 404 });
    if (!(await stat(file)).isFile()) return new Response('not found', { status: 404 });
    // Hashed assets never change; the page itself is always fetched again.
    const cache = pathname.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
    return new Response(await readFile(file), {
      headers: { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': cache },
    });
  } catch {
    return new Response('not found', { status: 404 });
  }
}

let reconciling: Promise<unknown> = Promise.resolve();

async function demoRoute(request: Request, url: URL): Promise<Response | undefined> {
  const clientId = url.searchParams.get('clientId') ?? '';
  if (url.pathname === '/demo/token' && request.method === 'GET') {
    if (!isClientId(clientId)) return json({ error: 'clientId: 1-128 characters of A-Z a-z 0-9 _ -' }, 400);
    return new Response(await tokenFor(secret, clientId));
  }
  if (url.pathname === '/demo/reader-token' && request.method === 'GET') {
    // The server limits concurrent view streams per reader name: each page asks with its own.
    const name = url.searchParams.get('name') ?? 'playground';
    if (!isClientId(name)) return json({ error: 'name: 1-128 characters of A-Z a-z 0-9 _ -' }, 400);
    return new Response(await readerTokenFor(secret, name));
  }
  if (url.pathname === '/demo/batch' && request.method === 'POST') {
    // One run at a time, with the per-client reconcile too: both read the whole log.
    const run = reconciling.then(async () => {
      // The clients' uploaded watermarks (`results`, only read) say which windows each tab may
      // still fire: without them every window would count as final, the newest too. The
      // corrections go to a throwaway store: computed with the default pipeline, they would be
      // wrong for tabs running another.
      const report = await reconcile({
        log,
        results,
        corrections: memoryCorrections(),
        pipeline: pipelineFor(DEFAULT_CONFIG),
        silenceHorizonMs: IDLE_MS,
      });
      await speed.setBatchView({ windows: report.global, frontier: report.frontier, startedAt: report.startedAt });
      return {
        clients: report.clients,
        events: report.events,
        windows: report.global.length,
        final: report.global.filter((w) => w.start < report.frontier).length,
        frontier: Number.isFinite(report.frontier) ? report.frontier : null,
        failures: report.failures,
        durationMs: report.durationMs,
      };
    });
    reconciling = run.catch(() => {});
    try {
      return json(await run);
    } catch (err) {
      return json({ error: String((err as Error).message ?? err) }, 500);
    }
  }
  if (url.pathname === '/demo/export' && request.method === 'GET') {
    if (!isClientId(clientId)) return json({ error: 'clientId: 1-128 characters of A-Z a-z 0-9 _ -' }, 400);
    const events: unknown[] = [];
    for await (const chunk of log.read({ clientId }))
      for (const e of chunk) events.push({ seq: e.seq, ts: e.ts, receivedAt: e.receivedAt, data: e.data });
    return json({ clientId, events });
  }
  if (url.pathname === '/demo/reconcile' && request.method === 'POST') {
    let body: { clientId?: unknown; config?: unknown };
    try {
      body = (await request.json()) as typeof body;
    } catch {
      return json({ error: 'expected a JSON body { clientId, config }' }, 400);
    }
    const id = body.clientId;
    if (typeof id !== 'string' || !isClientId(id)) return json({ error: 'clientId: 1-128 characters of A-Z a-z 0-9 _ -' }, 400);
    const config = parseConfig((body.config ?? {}) as Record<string, unknown>);
    // One run at a time: the correction store numbers what each run writes.
    const run = reconciling.then(async () => {
      const before = corrections.since(id, 0, 10_000).cursor;
      const report = await reconcile({ log, results, clientId: id, pipeline: pipelineFor(config), corrections });
      const { global: _global, ...summary } = report;
      return { report: summary, corrections: corrections.since(id, before, 10_000).corrections };
    });
    reconciling = run.catch(() => {});
    try {
      return json(await run);
    } catch (err) {
      return json({ error: String((err as Error).message ?? err) }, 500);
    }
  }
  return undefined;
}

const server = await listen(
  async (request) => {
    const url = new URL(request.url);
    if (url.pathname.startsWith('/demo/')) return (await demoRoute(request, url)) ?? json({ error: 'no such route' }, 404);
    if (url.pathname.startsWith('/v1/') || url.pathname === '/metrics') return ingest(request);
    if (request.method !== 'GET' && request.method !== 'HEAD') return new Response('method not allowed', { status: 405 });
    return staticFile(url.pathname);
  },
  { port, host },
);
console.log(`Tidemark playground: ${server.url}  (file log in ${join(dataDir, 'log')}; Ctrl-C stops)`);

const stop = async () => {
  // The speed layer first: it ends the view streams, which would keep the server open.
  await speed.close();
  await server.close();
  await Promise.all([log.close(), results.close(), corrections.close()]);
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
