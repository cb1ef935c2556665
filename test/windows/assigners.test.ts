import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, session, sliding, tumbling } from '../../src/index.js';
import { alignedStart } from '../../src/windows/aligned-windows.js';

describe('tumbling', () => {
  it('aligns starts to multiples of size from the offset: start = ts - mod(ts - offset, size)', () => {
    const w = tumbling(60_000);
    expect(w.assign(0)).toEqual([{ start: 0, end: 60_000 }]);
    expect(w.assign(59_999)).toEqual([{ start: 0, end: 60_000 }]);
    expect(w.assign(60_000)).toEqual([{ start: 60_000, end: 120_000 }]);
    expect(tumbling(10, 3).assign(12)).toEqual([{ start: 3, end: 13 }]);
    expect(tumbling(10, 3).assign(13)).toEqual([{ start: 13, end: 23 }]);
  });

  it('uses a non-negative mod, so negative timestamps fall in the window below them', () => {
    expect(tumbling(10).assign(-1)).toEqual([{ start: -10, end: 0 }]);
    expect(tumbling(10).assign(-10)).toEqual([{ start: -10, end: 0 }]);
    expect(tumbling(10, -3).assign(-4)).toEqual([{ start: -13, end: -3 }]);
  });

  it('refuses a non-positive or non-finite size and a non-finite offset, naming the option', () => {
    expect(() => tumbling(0)).toThrow(InvalidOptionError);
    expect(() => tumbling(-5)).toThrow(/tumbling\.size: must be a whole number of milliseconds > 0/);
    expect(() => tumbling(Number.NaN)).toThrow(/tumbling\.size/);
    expect(() => tumbling(Number.POSITIVE_INFINITY)).toThrow(/tumbling\.size/);
    expect(() => tumbling(10, Number.NaN)).toThrow(/tumbling\.offset/);
    expect(() => tumbling(0.5)).toThrow(/tumbling\.size: must be a whole number of milliseconds > 0, got 0\.5/);
    expect(() => sliding(10, 2.5)).toThrow(/sliding\.slide: must be a whole number/);
    expect(() => tumbling('10' as unknown as number)).toThrow(/got "10"/);
  });

  it('gives errors a stable name', () => {
    try {
      tumbling(0);
      expect.unreachable();
    } catch (e) {
      expect((e as Error).name).toBe('InvalidOptionError');
      expect((e as InvalidOptionError).option).toBe('tumbling.size');
    }
  });
});

describe('sliding', () => {
  it('assigns every start = lastStart - k*slide with start > ts - size', () => {
    expect(sliding(60_000, 10_000).assign(65_000)).toEqual([
      { start: 60_000, end: 120_000 },
      { start: 50_000, end: 110_000 },
      { start: 40_000, end: 100_000 },
      { start: 30_000, end: 90_000 },
      { start: 20_000, end: 80_000 },
      { start: 10_000, end: 70_000 },
    ]);
    // a size that is not a multiple of the slide
    expect(sliding(25, 10).assign(30).map((w) => w.start)).toEqual([30, 20, 10]);
    expect(sliding(25, 10).assign(34).map((w) => w.start)).toEqual([30, 20, 10]);
    expect(sliding(25, 10).assign(35).map((w) => w.start)).toEqual([30, 20]);
    expect(sliding(10, 5, 2).assign(7).map((w) => w.start)).toEqual([7, 2]);
    expect(sliding(10, 10).assign(7)).toEqual(tumbling(10).assign(7));
  });

  it('refuses slide > size with a message that suggests what to use instead', () => {
    expect(() => sliding(10_000, 60_000)).toThrow(/sliding\.slide: must be <= size \(10000\).*tumbling/);
    expect(() => sliding(10, 0)).toThrow(/sliding\.slide/);
    expect(() => sliding(0, 1)).toThrow(/sliding\.size/);
  });
});

describe('session', () => {
  it('opens [ts, ts + gap) for a lone record', () => {
    expect(session(5_000).assign(1_000)).toEqual([{ start: 1_000, end: 6_000 }]);
  });
  it('refuses a non-positive gap', () => {
    expect(() => session(0)).toThrow(/session\.gap/);
  });
});

describe('alignedStart', () => {
  const reference = (ts: number, offset: number, size: number) => {
    const r = (ts - offset) % size;
    return ts - (r < 0 ? r + size : r);
  };

  it('gives the aligned window containing any timestamp: epoch milliseconds, negative, fractional', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: -1e15, max: 1e15 }), fc.double({ min: -1e13, max: 1e13, noNaN: true }), fc.integer({ min: 1.6e12, max: 1.9e12 })),
        fc.integer({ min: 1, max: 86_400_000 }),
        fc.integer({ min: -86_400_000, max: 86_400_000 }),
        (ts, size, offset) => {
          const start = alignedStart(ts, offset, size);
          expect(Number.isInteger(start) && (start - offset) % size === 0).toBe(true);
          expect(start <= ts && ts < start + size).toBe(true);
          if (Number.isInteger(ts)) expect(start + 0).toBe(reference(ts, offset, size) + 0); // +0: -0 is 0
        },
      ),
      { numRuns: 5_000 },
    );
  });

  it('puts a timestamp exactly on a boundary into the window that starts there', () => {
    expect(alignedStart(1_700_000_040_000, 0, 60_000)).toBe(1_700_000_040_000);
    expect(alignedStart(1_700_000_039_999, 0, 60_000)).toBe(1_699_999_980_000);
  });
});
