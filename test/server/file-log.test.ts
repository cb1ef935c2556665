import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../helpers.js';
import { InvalidOptionError, ProtocolError, RuntimeClosedError, StorageError } from '../../src/errors.js';
import { type FileLog, fileLog, type LoggedEvent, type RecoveryReport } from '../../src/server/index.js';
import { openFileLog, type SyncIo } from '../../src/server/file-log.js';
import { eventData, events, KILL_CLIENTS } from './fixtures/events.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const root = resolve(here, '../..');
const SEG1 = 'events-00000001.log';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tidemark-filelog-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function readAll(log: FileLog, clientId?: string): Promise<LoggedEvent[]> {
  const out: LoggedEvent[] = [];
  for await (const chunk of log.read(clientId === undefined ? {} : { clientId })) out.push(...chunk);
  return out;
}

/** `client:seq` of every event read, and whether any came twice. */
function keys(all: readonly LoggedEvent[]): { set: Set<string>; duplicated: string[] } {
  const set = new Set<string>();
  const duplicated: string[] = [];
  for (const e of all) {
    const k = `${e.clientId}:${e.seq}`;
    if (set.has(k)) duplicated.push(k);
    set.add(k);
  }
  return { set, duplicated };
}

function diskBytes(d: string): number {
  return readdirSync(d)
    .filter((f) => f.startsWith('events-'))
    .reduce((s, f) => s + statSync(join(d, f)).size, 0);
}

/** An io that counts calls and can hold or fail the next fsync. */
function controlledIo() {
  const real: SyncIo = {
    writev: async (fh, b, p) => (await fh.writev(b as Buffer[], p)).bytesWritten,
    datasync: (fh) => fh.datasync(),
  };
  const state = {
    writes: 0,
    syncs: 0,
    hold: false,
    failSync: undefined as Error | undefined,
    failWrite: undefined as Error | undefined,
    held: [] as (() => void)[],
  };
  const io: SyncIo = {
    async writev(fh: FileHandle, b: readonly Buffer[], p: number) {
      state.writes++;
      if (state.failWrite) throw state.failWrite;
      return real.writev(fh, b, p);
    },
    async datasync(fh: FileHandle) {
      state.syncs++;
      await real.datasync(fh);
      if (state.hold) await new Promise<void>((res) => state.held.push(res));
      if (state.failSync) throw state.failSync;
    },
  };
  const release = () => {
    state.hold = false;
    for (const r of state.held.splice(0)) r();
  };
  return { io, state, release };
}

/** Lets pending I/O and callbacks run. */
const settled = () => new Promise((r) => setTimeout(r, 50));

describe('fileLog: idempotent ingest', () => {
  it('counts a replay as duplicates and keeps the first receivedAt', async () => {
    const log = await fileLog(dir);
    expect(await log.append('c1', events('c1', 1, 100), 1)).toEqual({ appended: 100, duplicates: 0, ackedThrough: 100, gaps: [] });
    expect(await log.append('c1', events('c1', 1, 100), 2)).toEqual({ appended: 0, duplicates: 100, ackedThrough: 100, gaps: [] });
    expect(await log.append('c1', events('c1', 50, 150), 3)).toEqual({ appended: 50, duplicates: 51, ackedThrough: 150, gaps: [] });
    const all = await readAll(log);
    expect(all.map((e) => e.seq)).toEqual(events('c1', 1, 150).map((e) => e.seq));
    expect(all.filter((e) => e.receivedAt === 1).length).toBe(100);
    expect(all.filter((e) => e.receivedAt === 3).map((e) => e.seq)).toEqual(events('c1', 101, 150).map((e) => e.seq));
    expect(all[7]).toEqual({ clientId: 'c1', seq: 8, ts: 8_000, receivedAt: 1, data: eventData('c1', 8) });
    await log.close();
  });

  it('reports a gap for a batch that arrives early, and closes it when the missing batch arrives', async () => {
    const log = await fileLog(dir);
    expect(await log.append('c1', events('c1', 11, 20), 1)).toEqual({ appended: 10, duplicates: 0, ackedThrough: 0, gaps: [[1, 10]] });
    expect(log.clients()).toEqual([{ clientId: 'c1', ackedThrough: 0, highest: 20, events: 10, missing: 10 }]);
    expect(await log.append('c1', events('c1', 1, 10), 2)).toEqual({ appended: 10, duplicates: 0, ackedThrough: 20, gaps: [] });
    expect(await log.append('c1', events('c1', 1, 20), 3)).toEqual({ appended: 0, duplicates: 20, ackedThrough: 20, gaps: [] });
    // Read in the order appended: the early batch first.
    expect((await readAll(log)).map((e) => e.seq)).toEqual([...events('c1', 11, 20), ...events('c1', 1, 10)].map((e) => e.seq));
    await log.close();
  });

  it('appends only the new part of overlapping and sparse batches', async () => {
    const log = await fileLog(dir);
    const sparse = events('c1', 1, 30).filter((e) => e.seq % 3 === 0); // 3, 6, …, 30
    expect(await log.append('c1', sparse, 1)).toMatchObject({ appended: 10, ackedThrough: 0, gaps: [[1, 2], [4, 5], [7, 8], [10, 11], [13, 14], [16, 17], [19, 20], [22, 23], [25, 26], [28, 29]] });
    expect(await log.append('c1', events('c1', 1, 15), 2)).toMatchObject({ appended: 10, duplicates: 5, ackedThrough: 15 });
    expect(await log.append('c1', events('c1', 10, 40), 3)).toMatchObject({ appended: 20, duplicates: 11, ackedThrough: 40, gaps: [] });
    const all = await readAll(log);
    expect(all.length).toBe(40);
    expect(keys(all).duplicated).toEqual([]);
    expect(log.stats().events).toBe(40);
    await log.close();
  });

  it('writes events sent by concurrent appends exactly once', async () => {
    const log = await fileLog(dir);
    const outs = await Promise.all([
      log.append('c1', events('c1', 1, 1000), 1),
      log.append('c1', events('c1', 1, 1000), 1),
      log.append('c1', events('c1', 500, 1500), 1),
      log.append('c1', events('c1', 1, 1000), 1),
      log.append('c2', events('c2', 1, 10), 1),
    ]);
    expect(outs.map((o) => o.appended)).toEqual([1000, 0, 500, 0, 10]);
    expect(outs.map((o) => o.duplicates)).toEqual([0, 1000, 501, 1000, 0]);
    const all = await readAll(log);
    expect(all.length).toBe(1510);
    expect(keys(all).duplicated).toEqual([]);
    await log.close();
    const again = await fileLog(dir);
    expect(again.stats().events).toBe(1510);
    expect(keys(await readAll(again)).set.size).toBe(1510);
    await again.close();
  });

  it('answers a replay only once the events it duplicates are durable', async () => {
    const { io, state, release } = controlledIo();
    const log = await openFileLog(dir, {}, io);
    state.hold = true;
    let first = false;
    let replay = false;
    const a = log.append('c1', events('c1', 1, 10), 1).then(() => (first = true));
    const b = log.append('c1', events('c1', 1, 10), 1).then((o) => ((replay = true), o));
    await until('the fsync', () => state.held.length === 1); // the write is done, its fsync is held
    await settled();
    expect([first, replay]).toEqual([false, false]);
    release();
    await a;
    expect(await b).toEqual({ appended: 0, duplicates: 10, ackedThrough: 10, gaps: [] });
    // With nothing in flight, a replay answers at once.
    expect(await log.append('c1', events('c1', 5, 6), 1)).toMatchObject({ appended: 0, duplicates: 2 });
    await log.close();
  });

  it('refuses malformed appends before writing anything', async () => {
    const log = await fileLog(dir);
    await expect(log.append('c1', [{ seq: 2, ts: 0, data: 1 }, { seq: 1, ts: 0, data: 1 }], 1)).rejects.toThrow(ProtocolError);
    await expect(log.append('c1', [{ seq: 0, ts: 0, data: 1 }], 1)).rejects.toThrow(/events\[0\]\.seq/);
    await expect(log.append('c1', [{ seq: 1, ts: Number.NaN, data: 1 }], 1)).rejects.toThrow(/events\[0\]\.ts/);
    await expect(log.append('../x', events('x', 1, 1), 1)).rejects.toThrow(/clientId/);
    await expect(log.append('c1', [{ seq: 1, ts: 0, data: 1n }], 1)).rejects.toThrow(/JSON/);
    await expect(log.append('c1', events('c1', 1, 1), Number.NaN)).rejects.toThrow(/receivedAt/);
    expect(log.stats()).toEqual({ events: 0, bytes: 8, clients: 0 });
    // The refused bigint event was not reserved: it can be appended fixed.
    expect(await log.append('c1', [{ seq: 1, ts: 0, data: 1 }], 1)).toMatchObject({ appended: 1 });
    await log.close();
  });
});

describe('fileLog: reopening', () => {
  it('rebuilds every client’s coverage and the totals, across segments', async () => {
    const log = await fileLog(dir, { segmentBytes: 4096 });
    await log.append('a', events('a', 1, 50), 10);
    await log.append('b', events('b', 30, 40), 11); // a gap 1..29
    await log.append('a', events('a', 60, 80), 12); // a gap 51..59
    await log.append('c', events('c', 1, 200), 13);
    await log.append('a', events('a', 51, 55), 14);
    const clients = log.clients();
    const stats = log.stats();
    expect(log.diagnostics().segments).toBeGreaterThan(1);
    // Segments roll at 4096 bytes; only c's 200-event frame, larger than that, has one of its own.
    const sizes = readdirSync(dir).filter((f) => f.startsWith('events-')).map((f) => statSync(join(dir, f)).size).sort((x, y) => x - y);
    expect(sizes.slice(0, -1).every((s) => s <= 4096)).toBe(true);
    expect(sizes.at(-1)).toBeGreaterThan(4096);
    expect(stats).toEqual({ events: 50 + 11 + 21 + 200 + 5, bytes: diskBytes(dir), clients: 3 });
    await log.close();

    const again = await fileLog(dir, { segmentBytes: 4096 });
    expect(again.recovered).toBeUndefined();
    expect(again.clients()).toEqual(clients);
    expect(again.stats()).toEqual(stats);
    const all = await readAll(again);
    expect(keys(all).duplicated).toEqual([]);
    expect(all.length).toBe(stats.events);
    expect(all.find((e) => e.clientId === 'a' && e.seq === 53)).toEqual({ clientId: 'a', seq: 53, ts: 53_000, receivedAt: 14, data: eventData('a', 53) });
    expect((await readAll(again, 'b')).map((e) => e.seq)).toEqual(events('b', 30, 40).map((e) => e.seq));
    // Idempotency holds across the restart, and gaps still fill.
    expect(await again.append('a', events('a', 1, 80), 20)).toEqual({ appended: 4, duplicates: 76, ackedThrough: 80, gaps: [] });
    expect(await again.append('b', events('b', 1, 40), 20)).toEqual({ appended: 29, duplicates: 11, ackedThrough: 40, gaps: [] });
    await again.close();
  });

  it('streams large logs in chunks of a few thousand events', async () => {
    const log = await fileLog(dir);
    for (let i = 0; i < 10; i++) await log.append('c1', events('c1', i * 1000 + 1, (i + 1) * 1000), i);
    const sizes: number[] = [];
    for await (const chunk of log.read()) sizes.push(chunk.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(sizes).toEqual([4096, 4096, 1808]);
    await log.close();
  });
});

describe('fileLog: recovery', () => {
  /** Three appends of 10 events; the file's size after each. */
  async function threeBatches(): Promise<number[]> {
    const log = await fileLog(dir);
    const ends: number[] = [];
    for (let i = 0; i < 3; i++) {
      await log.append('c1', events('c1', i * 10 + 1, i * 10 + 10), i);
      ends.push(statSync(join(dir, SEG1)).size);
    }
    await log.close();
    return ends;
  }

  async function reopenExpecting(seqs: number, cut: number, reason: RegExp): Promise<void> {
    const reports: RecoveryReport[] = [];
    const log = await fileLog(dir, { onRecover: (r) => reports.push(r) });
    expect(log.recovered).toMatchObject({ file: join(dir, SEG1), bytes: cut });
    expect(log.recovered?.reason).toMatch(reason);
    expect(reports).toEqual([log.recovered]);
    expect(log.clients()).toEqual([{ clientId: 'c1', ackedThrough: seqs, highest: seqs, events: seqs, missing: 0 }]);
    expect((await readAll(log)).map((e) => e.seq)).toEqual(events('c1', 1, seqs).map((e) => e.seq));
    // The log goes on: the lost batch is appended again, and survives a reopen.
    expect(await log.append('c1', events('c1', 1, 30), 9)).toMatchObject({ appended: 30 - seqs, ackedThrough: 30 });
    await log.close();
    const again = await fileLog(dir);
    expect(again.recovered).toBeUndefined();
    expect(again.stats().events).toBe(30);
    await again.close();
  }

  it.each([
    ['one byte', 1],
    ['all but 3 header bytes', -3],
    ['all but the frame header', -8],
  ])('cuts a last frame truncated mid-frame (%s missing)', async (_, cut) => {
    const ends = await threeBatches();
    const frame = ends[2]! - ends[1]!;
    const keep = cut > 0 ? ends[2]! - cut : ends[1]! - cut; // -3: 3 bytes of the header remain
    truncateSync(join(dir, SEG1), keep);
    expect(statSync(join(dir, SEG1)).size).toBeLessThan(ends[2]!);
    await reopenExpecting(20, keep - ends[1]!, /incomplete/);
    expect(frame).toBeGreaterThan(8);
  });

  it('cuts garbage after the last frame: random bytes, or zeros', async () => {
    await threeBatches();
    appendFileSync(join(dir, SEG1), Buffer.alloc(300, 0xab));
    await reopenExpecting(30, 300, /impossible frame length/);
    appendFileSync(join(dir, SEG1), Buffer.alloc(4096));
    await reopenExpecting(30, 4096, /impossible frame length/);
  });

  it('cuts a last frame whose CRC does not match', async () => {
    const ends = await threeBatches();
    const file = join(dir, SEG1);
    const bytes = readFileSync(file);
    bytes[ends[1]! + 5]! ^= 0xff; // a byte of the third frame's CRC
    writeFileSync(file, bytes);
    await reopenExpecting(20, ends[2]! - ends[1]!, /CRC/);
  });

  it('refuses damage followed by valid frames, naming the file, the offset and the fix', async () => {
    const ends = await threeBatches();
    const file = join(dir, SEG1);
    const bytes = readFileSync(file);
    bytes[ends[0]! + 40]! ^= 0x01; // inside the second frame's payload
    writeFileSync(file, bytes);
    const err = await fileLog(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    const message = (err as Error).message;
    expect(message).toContain(file);
    expect(message).toContain(`at byte ${ends[0]}`);
    expect(message).toContain(`valid frame at byte ${ends[1]}`);
    expect(message).toContain(`truncate -s ${ends[0]}`);
    expect(statSync(file).size).toBe(ends[2]); // nothing was cut
    // Following the advice works (and the failed open released the lock).
    truncateSync(file, ends[0]!);
    const log = await fileLog(dir);
    expect(log.stats().events).toBe(10);
    await log.close();
  });

  it('refuses damage in a segment that is not the last', async () => {
    const log = await fileLog(dir, { segmentBytes: 4096 });
    for (let i = 0; i < 20; i++) await log.append('c1', events('c1', i * 10 + 1, i * 10 + 10), i);
    expect(log.diagnostics().segments).toBeGreaterThan(2);
    await log.close();
    const file = join(dir, SEG1);
    truncateSync(file, statSync(file).size - 5); // a torn frame, but not at the end of the log
    await expect(fileLog(dir)).rejects.toThrow(/events-00000001\.log is damaged at byte \d+: incomplete frame .* not the last/);
    rmSync(join(dir, 'events-00000002.log'));
    await expect(fileLog(dir)).rejects.toThrow(/events-00000002\.log is missing/);
  });

  it('recovers a segment whose creation was torn, and refuses a foreign file', async () => {
    const log = await fileLog(dir);
    await log.append('c1', events('c1', 1, 10), 1);
    await log.close();
    writeFileSync(join(dir, 'events-00000002.log'), 'TDM');
    const again = await fileLog(dir);
    expect(again.recovered).toMatchObject({ file: join(dir, 'events-00000002.log'), offset: 0, bytes: 3 });
    expect(await again.append('c1', events('c1', 1, 20), 2)).toMatchObject({ appended: 10 });
    await again.close();
    expect(readFileSync(join(dir, 'events-00000002.log')).subarray(0, 8).toString()).toBe('TDMLOG01');
    const third = await fileLog(dir);
    expect(third.stats().events).toBe(20);
    await third.close();
    writeFileSync(join(dir, 'events-00000003.log'), 'not a log at all');
    await expect(fileLog(dir)).rejects.toThrow(/does not start with TDMLOG01/);
  });
});

describe('fileLog: durability and group commit', () => {
  it('fsyncs concurrent appends in groups: fewer fsyncs than appends', async () => {
    const log = await fileLog(dir);
    const before = log.diagnostics();
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(`c${i}`, events(`c${i}`, 1, 100), i)));
    const d = log.diagnostics();
    expect(d.appends - before.appends).toBe(50);
    expect(d.writes - before.writes).toBeLessThan(50);
    expect(d.fsyncs - before.fsyncs).toBe(d.writes - before.writes);
    expect(log.stats().events).toBe(5000);
    await log.close();
  });

  it('resolves an append only after its fsync, and batches appends made during it into one write', async () => {
    const { io, state, release } = controlledIo();
    const log = await openFileLog(dir, {}, io);
    const base = { writes: state.writes, syncs: state.syncs };
    state.hold = true;
    let done = 0;
    const first = log.append('c0', events('c0', 1, 10), 1).then(() => done++);
    await until('the first fsync', () => state.held.length === 1); // in flight and held
    const rest = Array.from({ length: 10 }, (_, i) => log.append(`c${i + 1}`, events(`c${i + 1}`, 1, 10), 1).then(() => done++));
    await settled();
    expect(done).toBe(0);
    expect(state.writes - base.writes).toBe(1); // the others wait for the fsync in flight
    release();
    await Promise.all([first, ...rest]);
    expect(state.writes - base.writes).toBe(2);
    expect(state.syncs - base.syncs).toBe(2);
    expect(log.diagnostics()).toMatchObject({ appends: 11, writes: 2 });
    await log.close();
  });

  it.each([
    ['fsync', 'failSync'],
    ['write', 'failWrite'],
  ] as const)('refuses every append after a failed %s, and a reopen recovers', async (_, which) => {
    const { io, state, release } = controlledIo();
    const log = await openFileLog(dir, {}, io);
    await log.append('c1', events('c1', 1, 10), 1);
    state.hold = true;
    const a = log.append('c1', events('c1', 11, 20), 2);
    await until('the fsync', () => state.held.length === 1);
    const b = log.append('c2', events('c2', 1, 10), 2); // waits in the next group
    state[which] = new Error('EIO: i/o error');
    release();
    if (which === 'failWrite') {
      await expect(a).resolves.toMatchObject({ appended: 10 }); // its write had gone out
      await expect(b).rejects.toThrow(StorageError);
    } else {
      await expect(a).rejects.toThrow(StorageError);
      await expect(b).rejects.toThrow(StorageError);
    }
    state.failSync = state.failWrite = undefined;
    const later = await log.append('c3', events('c3', 1, 1), 3).catch((e: unknown) => e);
    expect(later).toBeInstanceOf(StorageError);
    expect((later as Error).message).toMatch(/refuses further appends.*close the log and open it again/);
    await log.close();
    const again = await fileLog(dir);
    expect(again.clients().find((c) => c.clientId === 'c1')?.ackedThrough).toBeGreaterThanOrEqual(which === 'failWrite' ? 20 : 10);
    expect(await again.append('c2', events('c2', 1, 10), 4)).toMatchObject({ appended: 10 });
    await again.close();
  });
});

describe('fileLog: the directory lock', () => {
  const lockPath = () => join(dir, 'LOCK');

  function exited(child: ChildProcess): Promise<void> {
    return new Promise((res) => (child.exitCode !== null || child.signalCode !== null ? res() : child.once('exit', () => res())));
  }

  it('refuses a second open of the same directory until the first is closed', async () => {
    const log = await fileLog(dir);
    await expect(fileLog(dir)).rejects.toThrow(/already open in this process/);
    expect(readFileSync(lockPath(), 'utf8')).toBe(`${process.pid} ${hostname()}\n`);
    await log.close();
    expect(existsSync(lockPath())).toBe(false);
    const again = await fileLog(dir);
    await again.close();
  });

  it('refuses a lock held by a live process and takes over one whose process is dead', async () => {
    const live = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      writeFileSync(lockPath(), `${live.pid} ${hostname()}\n`);
      const err = await fileLog(dir).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StorageError);
      expect((err as Error).message).toContain(`open in process ${live.pid}`);
    } finally {
      live.kill('SIGKILL');
      await exited(live);
    }
    // The same lock, now that its process is dead.
    const log = await fileLog(dir);
    expect(readFileSync(lockPath(), 'utf8')).toBe(`${process.pid} ${hostname()}\n`);
    await log.close();
    writeFileSync(lockPath(), ''); // a crash while the lock was being written
    const again = await fileLog(dir);
    await again.close();
  });
});

describe('fileLog: kill -9', () => {
  const fixture = join(here, 'fixtures/append-loop.ts');

  /** Runs the appending child until SIGKILL `delayMs` after its first acknowledgement. */
  async function runAndKill(delayMs: number): Promise<{ acked: Map<string, number>; stderr: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, dir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let stderr = '';
    const exit = new Promise<void>((res) => child.once('exit', () => res()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    await new Promise<void>((res, rej) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('\nack ')) res();
      });
      void exit.then(() => rej(new Error(`the child exited before acknowledging anything: ${stderr}`)));
    });
    await new Promise((r) => setTimeout(r, delayMs));
    child.kill('SIGKILL');
    await exit;
    expect(child.signalCode).toBe('SIGKILL');
    const acked = new Map<string, number>();
    // Only complete lines: the last one may have been cut by the kill.
    for (const line of out.split('\n').slice(0, -1)) {
      const m = /^ack (\w+) (\d+)$/.exec(line);
      if (m) acked.set(m[1]!, Math.max(acked.get(m[1]!) ?? 0, Number(m[2])));
    }
    return { acked, stderr };
  }

  it('keeps every acknowledged event exactly once, across several kills at random moments', async () => {
    const ackedEver = new Map<string, number>();
    const delays = [20 + Math.random() * 80, 100 + Math.random() * 300, Math.random() * 600];
    for (const delay of delays) {
      const { acked } = await runAndKill(delay);
      expect(acked.size).toBeGreaterThan(0);
      for (const [id, seq] of acked) ackedEver.set(id, Math.max(ackedEver.get(id) ?? 0, seq));

      const log = await fileLog(dir); // takes over the dead child's lock
      const all = await readAll(log);
      expect(keys(all).duplicated).toEqual([]);
      for (const e of all) expect(e.data).toEqual(eventData(e.clientId, e.seq));
      for (const id of KILL_CLIENTS) {
        const through = ackedEver.get(id) ?? 0;
        const progress = log.clients().find((c) => c.clientId === id);
        expect(progress?.ackedThrough ?? 0, `client ${id}`).toBeGreaterThanOrEqual(through);
        expect(progress?.missing ?? 0).toBe(0);
        // Everything acknowledged comes back as duplicates.
        if (through > 0) expect(await log.append(id, events(id, 1, through), 0)).toMatchObject({ appended: 0, duplicates: through });
      }
      expect(log.stats().events).toBe(all.length);
      await log.close();
    }
  }, 60_000);
});

describe('fileLog: options and closing', () => {
  it.each([
    ['', undefined, /fileLog\.dir/],
    ['x', { segmentBytes: 100 }, /fileLog\.segmentBytes: must be a whole number of bytes >= 4096/],
    ['x', { segmentBytes: 4096.5 }, /segmentBytes/],
    ['x', { segmentBytes: '1' }, /segmentBytes/],
    ['x', { segmentSize: 4096 }, /fileLog\.segmentSize: unknown option; the options are segmentBytes, onRecover/],
    ['x', { onRecover: 'log' }, /fileLog\.onRecover/],
    ['x', null, /fileLog\.options/],
  ])('refuses dir %j with options %j before touching the disk', async (name, options, message) => {
    const target = join(dir, name || 'unused');
    const err = await fileLog(name === '' ? '' : target, options as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect((err as Error).message).toMatch(message);
    expect(existsSync(target)).toBe(false);
  });

  it('flushes on close, releases the lock, and rejects later calls', async () => {
    const log = await fileLog(dir);
    const pending = log.append('c1', events('c1', 1, 10), 1);
    await log.close();
    await expect(pending).resolves.toMatchObject({ appended: 10 });
    await expect(log.append('c1', events('c1', 11, 12), 1)).rejects.toThrow(RuntimeClosedError);
    await expect(readAll(log)).rejects.toThrow(RuntimeClosedError);
    await expect(log.close()).resolves.toBeUndefined();
    expect(existsSync(join(dir, 'LOCK'))).toBe(false);
    const again = await fileLog(dir);
    expect(again.stats().events).toBe(10);
    await again.close();
  });
});

describe('follow() and frames(): tailing the log', () => {
  it('hands each durable append over in log order with its position, and reads the frames after a position back', async () => {
    const log = await fileLog(dir, { segmentBytes: 4096 });
    const followed: { clientId: string; seqs: number[]; end: { segment: number; offset: number } }[] = [];
    const stop = log.follow((frames) => {
      for (const f of frames) followed.push({ clientId: f.clientId, seqs: f.events.map((e) => e.seq), end: f.end });
    });
    // Concurrent appends of two clients, some sharing a group, enough bytes to roll segments.
    const big = (seq: number) => ({ seq, ts: seq, data: { pad: 'x'.repeat(900) } });
    await Promise.all([1, 2, 3, 4, 5, 6].map((s) => log.append(s % 2 ? 'a' : 'b', [big(Math.ceil(s / 2))], 0)));
    await log.append('a', [big(3)], 0); // a duplicate: nothing appended, nothing followed
    stop();
    await log.append('a', [big(4)], 0); // after stop(): not followed
    expect(followed.map((f) => `${f.clientId}${f.seqs.join()}`)).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3']);
    // Positions strictly increase, across segments.
    const order = followed.map((f) => f.end.segment * 1e9 + f.end.offset);
    expect([...order].sort((x, y) => x - y)).toEqual(order);
    expect(new Set(followed.map((f) => f.end.segment)).size).toBeGreaterThan(1);
    // frames(after) reads exactly what follows a position, the last append included.
    const after = async (position?: { segment: number; offset: number }) => {
      const out: string[] = [];
      for await (const f of log.frames(position)) out.push(`${f.clientId}${f.events.map((e) => e.seq).join()}`);
      return out;
    };
    expect(await after()).toEqual(['a1', 'b1', 'a2', 'b2', 'a3', 'b3', 'a4']);
    expect(await after(followed[2]!.end)).toEqual(['b2', 'a3', 'b3', 'a4']);
    expect(await after(followed[5]!.end)).toEqual(['a4']);
    await log.close();
  });
});
