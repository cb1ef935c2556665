import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RuntimeClosedError, StorageError } from '../../src/errors.js';
import type { WireResult } from '../../src/protocol/wire.js';
import { fileResults, memoryResults, type ResultStore } from '../../src/server/index.js';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'tidemark-results-'));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const r = (key: string | number, start: number, value: unknown, pane = 0): WireResult => ({
  key,
  start,
  end: start + 10,
  value,
  pane,
});

describe.each([
  ['memoryResults', async () => memoryResults()],
  ['fileResults', async () => fileResults(tempDir())],
] as const)('%s', (_name, make: () => Promise<ResultStore>) => {
  it('keeps the latest pane of each window: higher pane wins, equal pane the later put, lower ignored', async () => {
    const s = await make();
    await s.put('c1', [r('a', 0, 1, 0), r('a', 10, 5, 0)], 100);
    await s.put('c1', [r('a', 0, 3, 2)], 200);
    await s.put('c1', [r('a', 0, 2, 1)], 300); // a late retry of an older pane
    await s.put('c1', [r('a', 10, 6, 0)], 400); // same pane, later upload
    expect(s.get('c1')).toEqual([
      { ...r('a', 0, 3, 2), receivedAt: 200 },
      { ...r('a', 10, 6, 0), receivedAt: 400 },
    ]);
    await s.close();
  });

  it('a delete (a changelog upload) removes its window, unless a newer pane is held', async () => {
    const s = await make();
    await s.put('c1', [r('a', 0, 1, 0), r('a', 10, 5, 2), r('a', 20, 7, 0)], 100);
    await s.put('c1', [{ ...r('a', 0, 1, 0), kind: 'delete' }, { ...r('a', 10, 4, 1), kind: 'delete' }], 200);
    expect(s.get('c1').map((x) => x.start)).toEqual([10, 20]);
    await s.close();
  });

  it('keeps clients apart, lists them in first-upload order, windows grouped by key in upload order', async () => {
    const s = await make();
    await s.put('c2', [r('b', 20, 1), r(1, 0, 1), r('a', 30, 1), r('1', 0, 1)], 1);
    await s.put('c2', [r('a', 0, 1), r('b', 20, 2, 1)], 1);
    await s.put('c1', [r('a', 0, 9)], 2);
    expect(s.clients()).toEqual(['c2', 'c1']);
    expect(s.get('c2').map((x) => `${typeof x.key}:${String(x.key)}@${x.start}`)).toEqual([
      'string:b@20',
      'number:1@0',
      'string:a@30',
      'string:a@0',
      'string:1@0',
    ]);
    expect(s.get('c1')[0]?.value).toBe(9);
    expect(s.get('nobody')).toEqual([]);
    await s.close();
  });

  it('refuses calls after close()', async () => {
    const s = await make();
    await s.close();
    expect(() => s.get('c1')).toThrow(RuntimeClosedError);
    await expect(s.put('c1', [r('a', 0, 1)], 1)).rejects.toThrow(RuntimeClosedError);
  });
});

describe('fileResults on disk', () => {
  it('reopens with the same contents, including many concurrent puts', async () => {
    const dir = tempDir();
    const s = await fileResults(dir);
    await Promise.all(Array.from({ length: 200 }, (_, i) => s.put(`c${i % 7}`, [r('k', (i % 13) * 10, i, i)], i)));
    const before = s.clients().map((c) => [c, s.get(c)]);
    await s.close();
    const again = await fileResults(dir);
    expect(again.clients().map((c) => [c, again.get(c)])).toEqual(before);
    await again.close();
  });

  it('ignores and truncates a torn last line, then appends after it', async () => {
    const dir = tempDir();
    const s = await fileResults(dir);
    await s.put('c1', [r('a', 0, 1)], 1);
    await s.close();
    const path = join(dir, 'results.ndjson');
    const good = statSync(path).size;
    appendFileSync(path, '{"clientId":"c1","receivedAt":2,"results":[{"key":"a","sta');
    const reopened = await fileResults(dir);
    expect(reopened.get('c1')).toEqual([{ ...r('a', 0, 1), receivedAt: 1 }]);
    expect(statSync(path).size).toBe(good);
    await reopened.put('c1', [r('a', 0, 2, 1)], 3);
    await reopened.close();
    const third = await fileResults(dir);
    expect(third.get('c1')[0]?.value).toBe(2);
    await third.close();
    expect(readFileSync(path, 'utf8').split('\n').filter(Boolean)).toHaveLength(3); // header + 2 puts
  });

  it('treats an unparsable complete last line as torn too', async () => {
    const dir = tempDir();
    const s = await fileResults(dir);
    await s.put('c1', [r('a', 0, 1)], 1);
    await s.close();
    appendFileSync(join(dir, 'results.ndjson'), '{"clientId":\u0000\u0000\n');
    const reopened = await fileResults(dir);
    expect(reopened.get('c1')).toHaveLength(1);
    await reopened.close();
  });

  it('refuses a file corrupt before its last line, and a file of another kind', async () => {
    const dir = tempDir();
    const s = await fileResults(dir);
    await s.put('c1', [r('a', 0, 1)], 1);
    await s.close();
    const path = join(dir, 'results.ndjson');
    const [header, line] = readFileSync(path, 'utf8').split('\n');
    writeFileSync(path, `${header}\nnot json\n${line}\n`);
    await expect(fileResults(dir)).rejects.toThrow(StorageError);
    writeFileSync(path, '{"tidemark":"corrections","version":1}\n');
    await expect(fileResults(dir)).rejects.toThrow(/not a file of this kind/);
    writeFileSync(path, 'hello');
    await expect(fileResults(dir)).rejects.toThrow(/not a file of this kind/);
  });

  it('recovers a header torn while the file was created', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'results.ndjson'), '{"tidemark":"res');
    const s = await fileResults(dir);
    await s.put('c1', [r('a', 0, 1)], 1);
    await s.close();
    const reopened = await fileResults(dir);
    expect(reopened.get('c1')).toHaveLength(1);
    await reopened.close();
  });
});
