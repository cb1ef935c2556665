/**
 * File log benchmark (`node --import tsx bench/server/file-log.bench.ts`):
 * appends of 500-event batches (~60-byte JSON events) from concurrent
 * appenders into `fileLog`, each append resolving only once fsynced,
 * against baselines in the same process over the same bytes (frames
 * encoded before timing starts):
 *
 * - raw write + fdatasync per batch: what durability costs without group commit;
 * - raw writev + one fdatasync per group: the disk's ceiling with group commit
 *   (the file log's gap to it is encoding and bookkeeping).
 *
 * Then, CPU only, the encodings considered for a frame's payload.
 *
 * Each round runs every contender for `SECONDS` in a fresh directory, in
 * alternating order (A B C D, D C B A, …); figures are medians of `ROUNDS`.
 * Nothing is asserted on time; a run fails only if a log does not hold
 * exactly what was appended. Prints a table, then one JSON line.
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { WireEvent } from '../../src/protocol/index.js';
import { encodeFrame } from '../../src/server/file-log-format.js';
import { fileLog } from '../../src/server/index.js';
import { formatRate, median } from '../harness.js';

const APPENDERS = 8;
const PER_BATCH = 500;
const SECONDS = Number(process.env['SECONDS'] ?? 2);
const ROUNDS = Number(process.env['ROUNDS'] ?? 5);
const T0 = 1_700_000_000_000;

const PAGES = ['/home', '/pricing', '/docs', '/blog', '/signup'];
const KINDS = ['view', 'click', 'scroll'];
const ARMS = ['A', 'B'];
/** ~60 bytes as JSON, e.g. {"kind":"click","page":"/pricing","ab":"B","user":4711,"ms":187} */
function data(seq: number): unknown {
  return { kind: KINDS[seq % 3], page: PAGES[seq % 5], ab: ARMS[seq % 2], user: (seq * 7919) % 100_000, ms: seq % 300 };
}
const DATA_POOL = Array.from({ length: 1024 }, (_, i) => data(i));

/** A batch as the ingest handler hands it over: fresh objects, data shared from a pool. */
function batch(first: number): WireEvent[] {
  const out = new Array<WireEvent>(PER_BATCH);
  for (let i = 0; i < PER_BATCH; i++) {
    const seq = first + i;
    out[i] = { seq, ts: T0 + seq * 10, data: DATA_POOL[seq & 1023] };
  }
  return out;
}

interface Result {
  readonly events: number;
  readonly seconds: number;
  readonly fsyncs: number;
  readonly writes: number;
  readonly bytes: number;
}

interface Contender {
  readonly name: string;
  run(dir: string): Promise<Result>;
}

const now = () => performance.now() / 1_000;

/** `appenders` loops, each appending its own client's batches until the time is up. */
async function loops(appenders: number, append: (a: number, b: number) => Promise<void>): Promise<number> {
  const start = now();
  let batches = 0;
  await Promise.all(
    Array.from({ length: appenders }, async (_, a) => {
      for (let b = 0; now() - start < SECONDS; b++) {
        await append(a, b);
        batches++;
      }
    }),
  );
  return batches * PER_BATCH;
}

function fileLogContender(appenders: number): Contender {
  return {
    name: `fileLog, ${appenders} appender${appenders > 1 ? 's' : ''}`,
    async run(dir) {
      const log = await fileLog(dir);
      const base = log.diagnostics();
      const start = now();
      const events = await loops(appenders, async (a, b) => {
        const out = await log.append(`client-${a}`, batch(b * PER_BATCH + 1), Date.now());
        if (out.appended !== PER_BATCH) throw new Error(`appended ${out.appended} of ${PER_BATCH}`);
      });
      const seconds = now() - start;
      const d = log.diagnostics();
      const { bytes } = log.stats();
      if (log.stats().events !== events) throw new Error(`the log holds ${log.stats().events} events, ${events} were appended`);
      await log.close();
      return { events, seconds, fsyncs: d.fsyncs - base.fsyncs, writes: d.writes - base.writes, bytes };
    },
  };
}

/** The very frames the log writes, encoded once: the raw baselines time I/O only. */
const FRAMES = Array.from({ length: APPENDERS }, (_, a) =>
  Array.from({ length: 32 }, (_, b) => encodeFrame(`client-${a}`, T0, batch(b * PER_BATCH + 1))),
);

const rawPerBatch: Contender = {
  name: 'raw write + fdatasync per batch',
  async run(dir) {
    const fh = await open(join(dir, 'raw.log'), 'w');
    let position = 0;
    let fsyncs = 0;
    const start = now();
    const events = await loops(APPENDERS, async (a, b) => {
      const f = FRAMES[a]![b % 32]!;
      const at = position;
      position += f.bytes;
      await fh.writev([...f.buffers], at);
      await fh.datasync();
      fsyncs++;
    });
    const seconds = now() - start;
    await fh.close();
    return { events, seconds, fsyncs, writes: fsyncs, bytes: position };
  },
};

const rawGrouped: Contender = {
  name: 'raw writev + one fdatasync per group',
  async run(dir) {
    const fh = await open(join(dir, 'raw.log'), 'w');
    let position = 0;
    let fsyncs = 0;
    let queue: { buffers: Buffer[]; done: () => void }[] = [];
    let writing = false;
    const pump = async () => {
      while (queue.length > 0) {
        const group = queue;
        queue = [];
        const buffers = group.flatMap((g) => g.buffers);
        const bytes = buffers.reduce((s, x) => s + x.length, 0);
        await fh.writev(buffers, position);
        await fh.datasync();
        position += bytes;
        fsyncs++;
        for (const g of group) g.done();
      }
      writing = false;
    };
    const start = now();
    const events = await loops(APPENDERS, (a, b) => {
      const f = FRAMES[a]![b % 32]!;
      return new Promise<void>((done) => {
        queue.push({ buffers: [...f.buffers], done });
        if (!writing) {
          writing = true;
          queueMicrotask(() => void pump());
        }
      });
    });
    const seconds = now() - start;
    await fh.close();
    return { events, seconds, fsyncs, writes: fsyncs, bytes: position };
  },
};

const contenders: Contender[] = [fileLogContender(APPENDERS), fileLogContender(1), rawPerBatch, rawGrouped];

async function main(): Promise<void> {
  console.log(
    `file log: ${APPENDERS} appenders × ${PER_BATCH}-event batches (~${Math.round(DATA_POOL.reduce((n: number, d) => n + JSON.stringify(d).length, 0) / DATA_POOL.length)}-byte events), ` +
      `${SECONDS} s per contender, median of ${ROUNDS} rounds; Node ${process.version}, ${cpus().length} CPUs, ${tmpdir()}`,
  );
  const results = new Map<string, Result[]>(contenders.map((c) => [c.name, []]));
  // One untimed warm-up round (JIT), then alternating timed rounds.
  for (let r = -1; r < ROUNDS; r++) {
    const order = r % 2 === 0 ? contenders : [...contenders].reverse();
    for (const c of order) {
      const dir = mkdtempSync(join(tmpdir(), 'tidemark-filelog-bench-'));
      try {
        const res = await c.run(dir);
        if (r >= 0) results.get(c.name)!.push(res);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }

  const rows = contenders.map((c) => {
    const rs = results.get(c.name)!;
    const rate = median(rs.map((x) => x.events / x.seconds));
    const fsyncRate = median(rs.map((x) => x.fsyncs / x.seconds));
    const perWrite = median(rs.map((x) => x.events / PER_BATCH / Math.max(1, x.writes)));
    const bytesPerEvent = median(rs.map((x) => x.bytes / Math.max(1, x.events)));
    return { name: c.name, eventsPerSecond: Math.round(rate), fsyncsPerSecond: Math.round(fsyncRate), batchesPerWrite: perWrite, bytesPerEvent };
  });
  console.log('\n| contender | events/s | MB/s | fsyncs/s | batches per write |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of rows)
    console.log(
      `| ${r.name} | ${formatRate(r.eventsPerSecond)} | ${((r.eventsPerSecond * r.bytesPerEvent) / 1e6).toFixed(0)} | ` +
        `${r.fsyncsPerSecond} | ${r.batchesPerWrite.toFixed(1)} |`,
    );

  const encodings = encodingRates();
  console.log('\n| payload encoding (CPU only, incl. Buffer + CRC-32) | events/s |');
  console.log('|---|---:|');
  for (const [name, rate] of Object.entries(encodings)) console.log(`| ${name} | ${formatRate(rate)} |`);

  console.log(
    JSON.stringify({
      bench: 'file-log',
      node: process.version,
      cpus: cpus().length,
      appenders: APPENDERS,
      perBatch: PER_BATCH,
      seconds: SECONDS,
      rounds: ROUNDS,
      results: rows,
      encodings,
    }),
  );
}

/** The payload encodings considered, each producing the bytes and their CRC for one batch. */
function encodingRates(): Record<string, number> {
  const batches = Array.from({ length: 64 }, (_, b) => batch(b * PER_BATCH + 1));
  const head = '{"c":"client-1","r":1700000000000,"s":[[1,500]]}\n';
  const ways: Record<string, (events: readonly WireEvent[]) => Buffer> = {
    'encodeFrame: one JSON.stringify of [seq,ts,data] rows (used)': (events) => {
      const f = encodeFrame('client-1', T0, events);
      return f.buffers[1];
    },
    'JSON.stringify per event, concatenated': (events) => {
      let s = `${head}[`;
      for (let i = 0; i < events.length; i++) {
        const e = events[i]!;
        s += `${i > 0 ? ',' : ''}[${e.seq},${e.ts},${JSON.stringify(e.data)}]`;
      }
      const b = Buffer.from(`${s}]`);
      crc32(b);
      return b;
    },
    'one JSON.stringify of the event objects (keys repeated)': (events) => {
      const b = Buffer.from(head + JSON.stringify(events));
      crc32(b);
      return b;
    },
  };
  const out: Record<string, number> = {};
  const samples = new Map<string, number[]>(Object.keys(ways).map((k) => [k, []]));
  for (let r = 0; r < 7; r++) {
    for (const [name, encode] of Object.entries(ways)) {
      const start = now();
      let n = 0;
      for (let i = 0; i < 20; i++) for (const b of batches) n += encode(b).length > 0 ? b.length : 0;
      if (r > 0) samples.get(name)!.push(n / (now() - start));
    }
  }
  for (const [name, s] of samples) out[name] = Math.round(median(s));
  return out;
}

await main();
