import { describe, expect, it } from 'vitest';
import type { WindowResult } from '../../src/index.js';
import { latestPanes } from '../../src/testing/index.js';
import { compareWindows, paneWins, WindowMap } from '../../src/windows/identity.js';
import { LatestPanes } from '../../src/windows/latest-panes.js';

describe('WindowMap', () => {
  it('keeps windows apart by key type, start and end, and replaces the same window', () => {
    const m = new WindowMap<{ key: string | number; start: number; end: number; v: number }>();
    m.set({ key: 1, start: 0, end: 10, v: 1 });
    m.set({ key: '1', start: 0, end: 10, v: 2 });
    m.set({ key: 1, start: 0, end: 20, v: 3 }); // same key and start, another end
    m.set({ key: 1, start: 0, end: 30, v: 4 });
    m.set({ key: 1, start: 0, end: 20, v: 5 }); // replaces v: 3
    m.set({ key: 1, start: 0, end: 10, v: 6 }); // replaces v: 1
    expect(m.size).toBe(4);
    expect(m.get(1, 0, 20)?.v).toBe(5);
    expect(m.get('1', 0, 10)?.v).toBe(2);
    expect(m.get(1, 0, 40)).toBeUndefined();
    expect(m.get(1, 0, 30)?.v).toBe(4);
    expect(m.values().map((w) => w.v)).toEqual([6, 5, 4, 2]);
    // delete: one window only, whichever list it is in
    expect(m.delete(1, 0, 20)).toBe(true);
    expect(m.delete(1, 0, 20)).toBe(false);
    expect(m.delete(1, 0, 40)).toBe(false);
    expect(m.delete('1', 0, 10)).toBe(true);
    expect(m.size).toBe(2);
    expect(m.values().map((w) => w.v)).toEqual([6, 4]);
    expect(m.delete(1, 0, 10) && m.delete(1, 0, 30)).toBe(true);
    expect(m.size).toBe(0);
    m.set({ key: 1, start: 0, end: 10, v: 7 });
    expect(m.values().map((w) => w.v)).toEqual([7]);
  });
});

describe('compareWindows', () => {
  it('orders by key as strings (a number before the equal string), then start, then end', () => {
    const w = (key: string | number, start: number, end: number) => ({ key, start, end });
    const sorted = [w('b', 0, 10), w('1', 0, 10), w(1, 0, 10), w('a', 5, 10), w('a', 0, 20), w('a', 0, 10), w(10, 0, 10)];
    const expected = [w(1, 0, 10), w('1', 0, 10), w(10, 0, 10), w('a', 0, 10), w('a', 0, 20), w('a', 5, 10), w('b', 0, 10)];
    expect(sorted.sort(compareWindows)).toEqual(expected);
    expect([...expected].reverse().sort(compareWindows)).toEqual(expected);
  });
});

describe('paneWins (which pane of one window every store keeps)', () => {
  it('keeps the highest pane; for equal or missing pane numbers the later one', () => {
    expect(paneWins({ pane: 0 }, undefined)).toBe(true);
    expect(paneWins({ pane: 2 }, { pane: 1 })).toBe(true);
    expect(paneWins({ pane: 1 }, { pane: 2 })).toBe(false);
    expect(paneWins({ pane: 2 }, { pane: 2 })).toBe(true);
    expect(paneWins({}, { pane: 2 })).toBe(true);
    expect(paneWins({ pane: 0 }, {})).toBe(true);
  });

  it('is the rule of the view, the result store, the batch run and tidemark/testing alike', () => {
    const late: WindowResult<string, number> = { key: 'a', start: 0, end: 10, value: 9, timing: 'on-time', pane: 2 };
    const older: WindowResult<string, number> = { ...late, value: 1, timing: 'early', pane: 1 };
    const view = new LatestPanes(10);
    view.add(late);
    view.add(older);
    expect(view.entries().map((r) => r.value)).toEqual([9]);
    expect(latestPanes([late, older]).map((r) => r.value)).toEqual([9]);
    const map = new WindowMap<typeof late>();
    map.offer(late);
    map.offer(older);
    expect(map.values().map((r) => r.value)).toEqual([9]);
  });
});

describe('tidemark/testing orders windows like every store', () => {
  it('puts the number 1 before the string "1", both ways round', () => {
    const rows = latestPanes<string | number, string>([
      { key: '1', start: 0, end: 10, value: 's', timing: 'on-time', pane: 0 },
      { key: 1, start: 0, end: 10, value: 'n', timing: 'on-time', pane: 0 },
    ]);
    expect(rows.map((r) => r.value)).toEqual(['n', 's']);
    expect(compareWindows({ key: 1, start: 0, end: 1 }, { key: '1', start: 0, end: 1 })).toBe(-1);
    expect(compareWindows({ key: '1', start: 0, end: 1 }, { key: 1, start: 0, end: 1 })).toBe(1);
  });
});
