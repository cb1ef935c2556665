import { appendFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidOptionError, RuntimeClosedError } from '../../src/errors.js';
import { type CorrectionEntry, type CorrectionStore, fileCorrections, memoryCorrections } from '../../src/server/index.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-corrections-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const entry = (clientId: string, start: number, speed: unknown, batch: unknown, at = 0): CorrectionEntry => ({
  clientId,
  key: 'k',
  start,
  end: start + 10,
  speed,
  batch,
  at,
});

describe.each([
  ['memoryCorrections', async () => memoryCorrections()],
  ['fileCorrections', async () => fileCorrections(tempDir())],
] as const)('%s', (_name, make: () => Promise<CorrectionStore>) => {
  it('numbers corrections with cursors that increase across the whole store', async () => {
    const s = await make();
    const first = await s.write([entry('c1', 0, 1, 2), entry('c2', 0, null, 1)]);
    const second = await s.write([entry('c1', 10, 3, 4)]);
    expect([...first, ...second].map((c) => c.cursor)).toEqual([1, 2, 3]);
    expect(second[0]).toEqual({ cursor: 3, key: 'k', start: 10, end: 20, speed: 3, batch: 4, at: 0 });
    expect(s.cursor()).toBe(3);
    expect(await s.write([])).toEqual([]);
    expect(s.cursor()).toBe(3);
    await s.close();
  });

  it('since(): a client pages through its own corrections without missing or repeating one', async () => {
    const s = await make();
    for (let i = 0; i < 25; i++) await s.write([entry(i % 2 ? 'c2' : 'c1', i * 10, i, i + 1)]);
    const seen: number[] = [];
    let after = 0;
    for (;;) {
      const page = s.since('c1', after, 4);
      if (page.corrections.length === 0) {
        expect(page.cursor).toBe(after);
        break;
      }
      expect(page.corrections.length).toBeLessThanOrEqual(4);
      seen.push(...page.corrections.map((c) => c.speed as number));
      after = page.cursor;
    }
    expect(seen).toEqual(Array.from({ length: 13 }, (_, i) => i * 2));
    expect(s.since('nobody', 0)).toEqual({ corrections: [], cursor: 0 });
    // A cursor this store never issued (the store was reset) starts over.
    expect(s.since('c1', 1_000, 1).corrections[0]?.cursor).toBe(1);
    await s.close();
  });

  it('latest(): the latest correction of each window, sorted', async () => {
    const s = await make();
    await s.write([entry('c1', 10, 1, 2), entry('c1', 0, 1, 2)]);
    await s.write([entry('c1', 10, 2, 3)]);
    expect(s.latest('c1').map((c) => [c.start, c.batch, c.cursor])).toEqual([
      [0, 2, 2],
      [10, 3, 3],
    ]);
    expect(s.latest('c2')).toEqual([]);
    await s.close();
  });

  it('checks since() arguments and refuses calls after close()', async () => {
    const s = await make();
    expect(() => s.since('c1', -1)).toThrow(InvalidOptionError);
    expect(() => s.since('c1', 1.5)).toThrow(InvalidOptionError);
    expect(() => s.since('c1', 0, 0)).toThrow(InvalidOptionError);
    await s.close();
    expect(() => s.since('c1', 0)).toThrow(RuntimeClosedError);
    await expect(s.write([entry('c1', 0, 1, 2)])).rejects.toThrow(RuntimeClosedError);
  });
});

describe('fileCorrections on disk', () => {
  it('reopens intact, continues the cursor, and drops a torn last write whole (cut before the next write)', async () => {
    const dir = tempDir();
    const s = await fileCorrections(dir);
    await Promise.all([s.write([entry('c1', 0, 1, 2), entry('c2', 0, 1, 2)]), s.write([entry('c1', 10, { a: [1] }, null)])]);
    await s.close();
    const path = join(dir, 'corrections.ndjson');
    const good = statSync(path).size;
    // A crash in the middle of a write of two corrections: neither is kept.
    appendFileSync(path, '[{"clientId":"c1","cursor":4,"key":"k","start":20,"end":30,"speed":1,"batch":2,"at":0},{"clientId":"c1","cur');
    const again = await fileCorrections(dir);
    // Left while nothing is written: another process's batch run may be writing that line now.
    expect(statSync(path).size).toBeGreaterThan(good);
    expect(again.cursor()).toBe(3);
    expect(again.since('c1', 0).corrections.map((c) => [c.cursor, c.speed])).toEqual([
      [1, 1],
      [3, { a: [1] }],
    ]);
    expect((await again.write([entry('c2', 10, 5, 6)]))[0]?.cursor).toBe(4);
    await again.close();
    const third = await fileCorrections(dir);
    expect(third.since('c2', 2)).toEqual({
      corrections: [{ cursor: 4, key: 'k', start: 10, end: 20, speed: 5, batch: 6, at: 0 }],
      cursor: 4,
    });
    await third.close();
  });
});
