// The real server (tidemark/server over HTTP) for the browser sync tests in
// every engine: the ingest handler, the app's token endpoint, and what the
// log holds.
import { createHandler, type EventLog, type Listening, listen, tokenFor } from '../../src/server/index.js';
import { until } from '../helpers.js';

export const secret = 'browser sync test secret';

/** The app's own token endpoint (a stand-in for its login): `/test-token?clientId=…`. */
export function tokenServer(tokenSecret: () => string = () => secret): Promise<Listening> {
  return listen(
    async (req) =>
      new Response(await tokenFor(tokenSecret(), new URL(req.url).searchParams.get('clientId') ?? ''), {
        headers: { 'access-control-allow-origin': '*' },
      }),
    { port: 0 },
  );
}

/** The real handler over HTTP on `port` (0: any), answering ingest after `delayMs`. */
export async function startServer(
  log: EventLog,
  port = 0,
  delayMs = 0,
  stores: Pick<Parameters<typeof createHandler>[0], 'results' | 'corrections'> = {},
): Promise<Listening> {
  const handler = await createHandler({ log, secret, rate: false, ...stores });
  return listen(
    async (req) => {
      const url = new URL(req.url);
      if (delayMs > 0 && url.pathname === '/v1/ingest') await new Promise((r) => setTimeout(r, delayMs));
      return handler(req);
    },
    { port },
  );
}

/** Every (clientId, seq) in the log, and how many appear more than once. */
export async function contents(log: EventLog): Promise<{ events: number; duplicates: number }> {
  const seen = new Set<string>();
  let duplicates = 0;
  for await (const chunk of log.read())
    for (const e of chunk) {
      const id = `${e.clientId}/${e.seq}`;
      if (seen.has(id)) duplicates++;
      seen.add(id);
    }
  return { events: seen.size, duplicates };
}

/** Browser round trips are slow: polls every 50 ms for up to 30 s. */
export const eventually = (what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000) =>
  until(what, check, { timeoutMs, everyMs: 50 });
