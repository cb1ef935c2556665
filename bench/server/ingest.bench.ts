/**
 * Ingest benchmark (`npm run bench:server`): `POST /v1/ingest` over loopback
 * HTTP with 500-event batches, through the real handler and Node adapter,
 * into the file log with fsync (the embedded default) and the JetStream
 * log (a real nats-server started here), against baselines
 * in the same process: the same handler on the memory log (no disk), and a
 * handler that only reads the body (the transport's ceiling).
 *
 * Every round sends `CLIENTS × BATCHES × 500` events from `CLIENTS`
 * concurrent clients in another thread (each one request at a time, like
 * the uploader), so the server has the main thread to itself;
 * contenders alternate; medians of `ROUNDS`. Nothing is asserted on time;
 * a run fails only if the log does not hold exactly what was sent.
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { createHandler, type EventLog, fileLog, jetStreamLog, listen, memoryLog, tokenFor } from '../../src/server/index.js';
import { startNatsServer } from '../../test/server/nats.js';

const CLIENTS = 16;
const BATCHES = 40;
const PER_BATCH = 500;
const ROUNDS = 5;
const secret = 'ingest bench secret, long enough';

interface Contender {
  readonly name: string;
  /** Starts a server; answers its URL, a check of what it holds, and a stop. */
  start(): Promise<{ url: string; held: () => number; stop: () => Promise<void> }>;
}

const PAGES = ['/home', '/pricing', '/docs', '/blog', '/signup'];
/** A batch body as the uploader sends it: ~60-byte events. */
function body(clientId: string, batch: number): string {
  const events = [];
  for (let i = 0; i < PER_BATCH; i++) {
    const seq = batch * PER_BATCH + i + 1;
    events.push({ seq, ts: 1_700_000_000_000 + seq * 10, data: { page: PAGES[seq % 5], user: seq % 997, ms: seq % 300 } });
  }
  return JSON.stringify({ clientId, events });
}

const withLog = (name: string, open: (dir: string) => Promise<EventLog>): Contender => ({
  name,
  async start() {
    const dir = mkdtempSync(join(tmpdir(), 'tidemark-ingest-'));
    const log = await open(dir);
    const handler = await createHandler({ log, secret, rate: false });
    const server = await listen(handler, { port: 0 });
    return {
      url: server.url,
      held: () => log.stats().events,
      stop: async () => {
        await server.close();
        await log.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});

// A real nats-server for the JetStream contender; a fresh stream per round.
const nats = await startNatsServer();
let streams = 0;

const contenders: Contender[] = [
  withLog('file log, fsync (default)', (dir) => fileLog(dir)),
  withLog('JetStream log (nats-server 2.9, file storage)', () =>
    jetStreamLog({ servers: nats.url, stream: `BENCH${++streams}`, subjectPrefix: `bench${streams}` }),
  ),
  withLog('memory log (no disk)', async () => memoryLog()),
  {
    name: 'HTTP only (reads the body, answers 200)',
    async start() {
      let events = 0;
      const server = await listen(
        async (req) => {
          const text = await req.text();
          events += PER_BATCH;
          return new Response(`{"n":${text.length}}`, { headers: { 'content-type': 'application/json' } });
        },
        { port: 0 },
      );
      return { url: server.url, held: () => events, stop: () => server.close() };
    },
  },
];

async function round(c: Contender, r: number): Promise<number> {
  const ids = Array.from({ length: CLIENTS }, (_, i) => `bench-${r}-${i}`);
  const tokens = await Promise.all(ids.map((id) => tokenFor(secret, id)));
  const bodies = ids.map((id) => Array.from({ length: BATCHES }, (_, b) => body(id, b)));
  const server = await c.start();
  try {
    // The clients run in another thread, as they would in other processes.
    const worker = new Worker(new URL('./ingest-client.mjs', import.meta.url), {
      workerData: { url: server.url, tokens, bodies },
    });
    const seconds = await new Promise<number>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    const expected = CLIENTS * BATCHES * PER_BATCH;
    if (server.held() !== expected) throw new Error(`${c.name}: holds ${server.held()} events, sent ${expected}`);
    return expected / seconds;
  } finally {
    await server.stop();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const rate = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M/s` : `${(x / 1e3).toFixed(0)} k/s`);

const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
for (const c of contenders) await round(c, -1 - contenders.indexOf(c)); // warm-up
for (let r = 0; r < ROUNDS; r++) for (const c of contenders) samples.get(c.name)!.push(await round(c, r * 10 + contenders.indexOf(c)));

const file = median(samples.get(contenders[0]!.name)!);
console.log(`\nIngest over loopback HTTP: ${CLIENTS} clients × ${BATCHES} batches × ${PER_BATCH} events, median of ${ROUNDS}\n`);
console.log('| Contender | events/s | file log ÷ this |');
console.log('| --- | ---: | ---: |');
for (const c of contenders) {
  const m = median(samples.get(c.name)!);
  console.log(`| ${c.name} | ${rate(m)} | ${(file / m).toFixed(2)}× |`);
}
console.log(
  `\n${JSON.stringify({ bench: 'ingest', clients: CLIENTS, batch: PER_BATCH, medians: Object.fromEntries([...samples].map(([k, v]) => [k, Math.round(median(v))])) })}`,
);
await nats.stop();
