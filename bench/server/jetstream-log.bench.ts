/**
 * `node --import tsx bench/server/jetstream-log.bench.ts`: ingest throughput
 * of the JetStream log against a real nats-server it starts itself
 * (test/server/nats.ts), beside baselines measured in the same process.
 *
 * - jetStreamLog.append: CLIENTS clients at once, each appending its batches
 *   of BATCH events one after the other (as one uploader per client would),
 *   with everything the log does: coverage, encoding, expected last subject
 *   sequence, Nats-Msg-Id, coverage header.
 * - js.publish, batch per message: the same bodies, encoded beforehand,
 *   published by as many concurrent publishers with no header, no
 *   expectation and no dedupe: the transport's ceiling for this layout.
 * - js.publish, batch per message, JSON.stringify per batch: the same, but
 *   encoding each batch as it goes (plain `JSON.stringify` of the events),
 *   which separates the cost of encoding from that of exactly-once.
 * - js.publish, event per message: one event per message, acknowledged one
 *   at a time per publisher: the ~30 k msg/s reference.
 *
 * Then how long opening a log takes (reading every client's last message)
 * beside reading the whole stream, which a rebuild by scanning would need.
 *
 * Medians of ROUNDS rounds, contenders alternating; prints a table and a
 * JSON line, and writes bench/results/jetstream-log.md.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import type { WireEvent } from '../../src/protocol/wire.js';
import { encodeChunks, HEADER_RESERVE } from '../../src/server/jetstream-format.js';
import { jetStreamLog } from '../../src/server/index.js';
import { startNatsServer } from '../../test/server/nats.js';
import { formatRate, formatRatio, median } from '../harness.js';

const CLIENTS = 8;
const BATCH = 500;
const BATCHES = 50; // per client and round: 8 × 50 × 500 = 200,000 events
const SINGLE_EVENTS = 20_000; // per round, for the event-per-message reference
const ROUNDS = 5;
const MANY_CLIENTS = 2_000;

const EVENTS = CLIENTS * BATCHES * BATCH;

/** ~60 bytes of JSON each: `{"seq":…,"ts":…,"data":{"page":"/products/42","ms":…,"ok":true}}`. */
function batch(from: number): WireEvent[] {
  const out: WireEvent[] = [];
  for (let seq = from; seq < from + BATCH; seq++)
    out.push({ seq, ts: 1_700_000_000_000 + seq * 7, data: { page: `/products/${seq % 100}`, ms: seq % 997, ok: true } });
  return out;
}

async function timed(run: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await run();
  return (performance.now() - start) / 1_000;
}

async function main(): Promise<void> {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await jsm.streams.add({ name: 'BASE', subjects: ['base.>'], storage: StorageType.File });
    const log = await jetStreamLog({ servers: server.url, stream: 'BENCH', subjectPrefix: 'bench' });
    const maxBody = (nc.info?.max_payload ?? 1024 * 1024) - HEADER_RESERVE;

    // The same events for every round; only client ids change, so that each round appends new events.
    const batches = Array.from({ length: BATCHES }, (_, b) => batch(1 + b * BATCH));
    const bodies = batches.map((events) => encodeChunks(events, Date.now(), maxBody)[0]!.body);
    const avgEventBytes = bodies.reduce((n, b) => n + b.length, 0) / (BATCHES * BATCH);
    const single = batches[0]!.slice(0, 1);
    const singleBody = encodeChunks(single, Date.now(), maxBody)[0]!.body;

    let round = 0;
    const contenders: { name: string; events: number; run: () => Promise<void> }[] = [
      {
        name: 'jetStreamLog.append (batch of 500, dedupe)',
        events: EVENTS,
        run: async () => {
          const r = round;
          await Promise.all(
            Array.from({ length: CLIENTS }, async (_, c) => {
              for (const events of batches) {
                const out = await log.append(`r${r}-c${c}`, events, Date.now());
                if (out.appended !== BATCH) throw new Error(`expected ${BATCH} appended, got ${out.appended}`);
              }
            }),
          );
        },
      },
      {
        name: 'js.publish, batch per message (no dedupe)',
        events: EVENTS,
        run: async () => {
          const r = round;
          await Promise.all(
            Array.from({ length: CLIENTS }, async (_, c) => {
              for (const body of bodies) await js.publish(`base.batch.r${r}-c${c}`, body);
            }),
          );
        },
      },
      {
        name: 'js.publish, batch per message, JSON.stringify per batch (no dedupe)',
        events: EVENTS,
        run: async () => {
          const r = round;
          await Promise.all(
            Array.from({ length: CLIENTS }, async (_, c) => {
              for (const events of batches)
                await js.publish(`base.json.r${r}-c${c}`, JSON.stringify({ receivedAt: Date.now(), events }));
            }),
          );
        },
      },
      {
        name: 'js.publish, event per message (no dedupe)',
        events: SINGLE_EVENTS,
        run: async () => {
          const r = round;
          await Promise.all(
            Array.from({ length: CLIENTS }, async (_, c) => {
              for (let i = 0; i < SINGLE_EVENTS / CLIENTS; i++) await js.publish(`base.single.r${r}-c${c}`, singleBody);
            }),
          );
        },
      },
    ];

    const samples = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
    // One warm-up round (round 0), then ROUNDS alternating rounds.
    for (; round <= ROUNDS; round++) {
      const order = round % 2 === 0 ? contenders : [...contenders].reverse();
      for (const c of order) {
        const s = await timed(c.run);
        if (round > 0) samples.get(c.name)!.push(s);
      }
    }
    const rates = contenders.map((c) => ({ name: c.name, eventsPerSecond: c.events / median(samples.get(c.name)!), events: c.events }));
    await log.refresh();
    const stats = log.stats();
    await log.close();

    // Opening: every client's last message, beside reading every event.
    const openStart = performance.now();
    const reopened = await jetStreamLog({ servers: server.url, stream: 'BENCH', subjectPrefix: 'bench', refreshMs: 0 });
    const openMs = performance.now() - openStart;
    const readStart = performance.now();
    let read = 0;
    for await (const chunk of reopened.read()) read += chunk.length;
    const readMs = performance.now() - readStart;
    if (read !== stats.events) throw new Error(`read ${read} events, the log holds ${stats.events}`);
    const benchClients = reopened.clients().length;
    // Many clients: opening costs one read per client.
    await Promise.all(Array.from({ length: MANY_CLIENTS }, (_, c) => reopened.append(`many-${c}`, batches[0]!.slice(0, 10), Date.now())));
    await reopened.close();
    const manyStart = performance.now();
    const many = await jetStreamLog({ servers: server.url, stream: 'BENCH', subjectPrefix: 'bench', refreshMs: 0 });
    const manyMs = performance.now() - manyStart;
    const manyClients = many.clients().length;
    await many.close();

    const [logRate, batchRate, jsonRate, singleRate] = rates.map((r) => r.eventsPerSecond) as [number, number, number, number];
    const table = [
      `| Contender | Events/s (median of ${ROUNDS}) | vs. plain batch publish |`,
      '| --- | ---: | ---: |',
      ...rates.map((r) => `| ${r.name} | ${formatRate(r.eventsPerSecond)} | ${formatRatio(r.eventsPerSecond / batchRate)} |`),
      '',
      '| Opening a log | Time |',
      '| --- | ---: |',
      `| open, ${benchClients} clients, ${stats.events.toLocaleString('en-US')} events (one last message per client) | ${openMs.toFixed(0)} ms |`,
      `| read() of all ${read.toLocaleString('en-US')} events (what a rebuild by scanning would read) | ${readMs.toFixed(0)} ms |`,
      `| open, ${manyClients.toLocaleString('en-US')} clients | ${manyMs.toFixed(0)} ms |`,
    ].join('\n');
    const context =
      `nats-server ${nc.info?.version ?? '?'} (file storage, loopback), Node ${process.version}, ` +
      `${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}; ${CLIENTS} clients appending at once, batches of ${BATCH} events ` +
      `(~${avgEventBytes.toFixed(0)} bytes each in the message body), ${EVENTS.toLocaleString('en-US')} events per round; ` +
      `event-per-message: ${SINGLE_EVENTS.toLocaleString('en-US')} events per round, ${CLIENTS} publishers awaiting each ack.`;
    console.log(`\n${table}\n\n${context}`);
    console.log(
      JSON.stringify({
        bench: 'jetstream-log',
        eventsPerSecond: Math.round(logRate),
        baselineBatchEventsPerSecond: Math.round(batchRate),
        baselineJsonEventsPerSecond: Math.round(jsonRate),
        baselineSingleEventsPerSecond: Math.round(singleRate),
        ratioToBatchBaseline: Number((logRate / batchRate).toFixed(3)),
        target: 300_000,
        meetsTarget: logRate >= 300_000,
        openMs: Math.round(openMs),
        openClients: benchClients,
        readAllMs: Math.round(readMs),
        readAllEvents: read,
        openManyMs: Math.round(manyMs),
        openManyClients: manyClients,
        clients: CLIENTS,
        batch: BATCH,
        rounds: ROUNDS,
        avgEventBytes: Math.round(avgEventBytes),
      }),
    );
    const dir = new URL('../results/', import.meta.url);
    mkdirSync(dir, { recursive: true });
    writeFileSync(new URL('jetstream-log.md', dir), `# JetStream log benchmark\n\n${table}\n\n${context}\n`);
  } finally {
    await nc.close().catch(() => undefined);
    await server.stop();
  }
}

await main();
