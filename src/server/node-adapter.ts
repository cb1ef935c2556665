/// <reference types="node" />
/**
 * The Node adapter: serves a fetch handler (`(Request) => Promise<Response>`)
 * on `node:http`. The only file of the server that touches `node:http`.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { errorParts } from '../errors.js';
import { requireObject } from '../options.js';

/** A running HTTP server. */
export interface Listening {
  /** Its base URL, e.g. `http://127.0.0.1:8787`. */
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections and closes idle ones; resolves when closed. */
  close(): Promise<void>;
}

/**
 * Serves `handler` over HTTP on `host:port` (`port: 0` picks a free one).
 * Request bodies stream into the handler (so its body limit applies before
 * a large body is read); responses are sent whole (they are small), except
 * `text/event-stream` ones, which are written chunk by chunk as they come
 * and cancelled when the client goes away.
 *
 * @example
 * ```ts
 * import { createHandler, listen, memoryLog } from 'tidemark/server';
 * const handler = await createHandler({ log: memoryLog(), secret: 'a secret of at least 16 bytes' });
 * const server = await listen(handler, { port: 0 });
 * console.log((await fetch(`${server.url}/metrics`)).status); // 200
 * await server.close();
 * ```
 */
export async function listen(
  handler: (request: Request) => Promise<Response>,
  options: { readonly port?: number; readonly host?: string } = {},
): Promise<Listening> {
  requireObject('listen', options);
  const host = options.host ?? '127.0.0.1';
  // Once closing, the connections go as soon as no request is being answered, rather than
  // after the keep-alive timeout (a client's idle keep-alive connection, or one whose stream ended).
  let closing = false;
  let answering = 0;
  const server = createServer((req, res) => {
    answering++;
    void respond(handler, host, req, res).finally(() => {
      if (--answering === 0 && closing) server.closeAllConnections();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8787, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 8787);
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    url,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        closing = true;
        server.close(() => resolve());
        if (answering === 0) server.closeAllConnections();
        else server.closeIdleConnections();
      }),
  };
}

async function respond(
  handler: (request: Request) => Promise<Response>,
  host: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
    }
    const method = req.method ?? 'GET';
    const hasBody = method !== 'GET' && method !== 'HEAD';
    // Aborted when the client goes away: a Server-Sent Events stream ends then.
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    const request = new Request(`http://${req.headers.host ?? host}${req.url ?? '/'}`, {
      method,
      headers,
      signal: gone.signal,
      ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' } : {}),
    } as RequestInit);
    const response = await handler(request);
    res.writeHead(response.status, Object.fromEntries(response.headers as unknown as Iterable<[string, string]>));
    if (!response.body) return void res.end();
    if (response.headers.get('content-type') === 'text/event-stream') return await pipeStream(response.body, res, gone.signal);
    const body = new Uint8Array(await response.arrayBuffer());
    res.end(body);
    // A body refused before it was read completely: drop the connection rather than read the rest.
    if (hasBody && !req.complete) req.destroy();
  } catch (err) {
    const { name, message } = errorParts(err);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { name, message } }));
  }
}

/** Writes a streamed body chunk by chunk, waiting for `drain` when the socket is full; cancels it when the client goes. */
async function pipeStream(body: ReadableStream<Uint8Array>, res: ServerResponse, gone: AbortSignal): Promise<void> {
  res.flushHeaders();
  const reader = body.getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  gone.addEventListener('abort', cancel, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || gone.aborted) break;
      if (!res.write(value)) await new Promise<void>((resolve) => {
        res.once('drain', resolve);
        res.once('close', resolve);
      });
    }
  } catch {
    // the stream failed or was cancelled: end the response
  } finally {
    gone.removeEventListener('abort', cancel);
    res.end();
  }
}
