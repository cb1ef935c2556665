import { describe, expect, it } from 'vitest';
import { compareWindows, WindowMap } from '../../src/server/windows.js';

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
