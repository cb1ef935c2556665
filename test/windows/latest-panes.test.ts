import { describe, expect, it } from 'vitest';
import { SnapshotError } from '../../src/index.js';
import { LatestPanes } from '../../src/windows/latest-panes.js';

const pane = (key: string | number, start: number, value: number, p = 0, timing = 'on-time') => ({
  key,
  start,
  end: start + 10,
  value,
  timing,
  pane: p,
});

describe('LatestPanes (the runtime view)', () => {
  it('keeps the latest pane per (key, start, end) and ignores non-results', () => {
    const view = new LatestPanes(100);
    expect(view.add(pane('a', 0, 1))).toBe(true);
    view.add(pane('a', 0, 3, 1, 'late'));
    view.add(pane(1, 0, 5)); // number key 1 is not string key '1'
    view.add(pane('1', 0, 6));
    expect(view.add({ kind: 'watermark', watermark: 3 })).toBe(false);
    expect(view.add('text')).toBe(false);
    expect(view.entries().map((r) => `${typeof r.key}:${r.key}=${r.value}#${r.pane}`)).toEqual([
      'string:a=3#1',
      'number:1=5#0',
      'string:1=6#0',
    ]);
  });

  it('evicts the windows that ended first beyond maxWindows', () => {
    const view = new LatestPanes(10);
    for (let i = 0; i <= 20; i++) view.add(pane('k', i * 10, i));
    expect(view.size).toBeLessThanOrEqual(11);
    expect(Math.min(...view.entries().map((r) => r.start))).toBeGreaterThanOrEqual(100);
  });

  it('round-trips through its columnar encoding (and structured clone)', () => {
    const view = new LatestPanes(1000);
    for (let i = 0; i < 50; i++) view.add(pane(i % 2 ? `k${i}` : i, i * 10, i * 1.5, i % 3, ['early', 'on-time', 'late'][i % 3]));
    const copy = new LatestPanes(1000);
    copy.restore(structuredClone(view.encode()));
    expect(copy.entries()).toEqual(view.entries());
  });

  it('applies a changelog: a retraction or delete removes the row, and a delete is reported', () => {
    const view = new LatestPanes(100);
    const change = (kind: string, start: number, value: number, p: number, timing = 'early') => ({ ...pane('s', start, value, p, timing), kind });
    view.add(change('insert', 0, 1, 0));
    view.add(change('insert', 20, 4, 0));
    // a session grew: its old span is deleted, the new one inserted
    view.add(change('delete', 0, 1, 0));
    view.add({ ...change('insert', 0, 2, 0), end: 15 });
    // an update: the row is taken back and replaced, no deletion reported
    view.add(change('update-before', 20, 4, 0));
    view.add(change('update-after', 20, 5, 1, 'on-time'));
    expect(view.entries().map((r) => `${r.start},${r.end}=${r.value} ${r.timing}#${r.pane}`)).toEqual(['0,15=2 early#0', '20,30=5 on-time#1']);
    for (const r of view.entries()) expect('kind' in r).toBe(false);
    expect(view.takeDeleted()).toEqual([{ key: 's', start: 0, end: 10, pane: 0 }]);
    expect(view.takeDeleted()).toEqual([]);
    // an update-before with no update-after (a filter dropped it) removes the row, reported as deleted
    view.add(change('update-before', 20, 5, 1, 'on-time'));
    expect(view.size).toBe(1);
    expect(view.takeDeleted()).toEqual([{ key: 's', start: 20, end: 30, pane: 1 }]);
    // a stale retraction (older pane than the row shown) changes nothing
    view.add({ ...change('insert', 0, 3, 2), end: 15 });
    view.add({ ...change('delete', 0, 2, 0), end: 15 });
    expect(view.entries().map((r) => r.value)).toEqual([3]);
    expect(view.takeDeleted()).toEqual([]);
  });

  it('refuses a stored view that is not one', () => {
    expect(() => new LatestPanes(10).restore({ format: 'other' })).toThrow(SnapshotError);
  });
});
