import { describe, expect, it } from 'vitest';
import { InvalidOptionError } from '../../src/index.js';
import { createWorkerApi } from '../../src/worker/serve-runtime.js';
import { estimateBytes } from '../../src/worker/settings.js';
import { createRuntime } from '../../src/browser/index.js';

const pipeline = () => {
  throw new Error('not built in these tests');
};

describe('serveRuntime options', () => {
  it.each([
    [{ name: '', pipeline }, /serveRuntime\.name: must be 1-64 characters/],
    [{ name: '../x', pipeline }, /serveRuntime\.name/],
    [{ name: 'a', pipeline: 3 }, /serveRuntime\.pipeline: expected a function/],
    [{ name: 'a', pipeline, checkpoint: { everyEvents: 0 } }, /checkpoint\.everyEvents: must be a whole number >= 1/],
    [{ name: 'a', pipeline, checkpoint: { everyMs: 1e10 } }, /checkpoint\.everyMs: must be at most 2147483647 ms/],
    [{ name: 'a', pipeline, checkpoint: { every: 5 } }, /serveRuntime\.checkpoint\.every: unknown option/],
    [{ name: 'a', pipeline, outbox: { policy: 'lru' } }, /outbox\.policy: must be 'reject' or 'drop-oldest', got "lru"/],
    [{ name: 'a', pipeline, outbox: { maxBytes: -1 } }, /outbox\.maxBytes/],
    [{ name: 'a', pipeline, view: { maxWindows: 1.5 } }, /view\.maxWindows/],
    [{ name: 'a', pipeline, openTimeout: 5 }, /serveRuntime\.openTimeout: unknown option/],
  ])('refuses %j', (options, message) => {
    expect(() => createWorkerApi(options as never)).toThrow(InvalidOptionError);
    expect(() => createWorkerApi(options as never)).toThrow(message);
  });
});

describe('createRuntime options', () => {
  it.each([
    [undefined, /createRuntime\(options\): expected an options object/],
    [{}, /createRuntime\.worker: expected a function/],
    [{ worker: (): unknown => null, batchSize: 0 }, /createRuntime\.batchSize/],
    [{ worker: (): unknown => null, timeout: 1 }, /createRuntime\.timeout: unknown option/],
    [{ worker: (): unknown => ({}) }, /createRuntime\.worker: must return a Worker/],
    [{ worker: (): unknown => null, clock: { now: () => 0 } }, /createRuntime\.clock: expected a Clock \(\{ now\(\), timeout\(fn, ms\) \}\)/],
    [{ worker: (): unknown => null, clock: null }, /createRuntime\.clock: expected a Clock/],
  ])('refuses %j', async (options, message) => {
    await expect(createRuntime(options as never)).rejects.toThrow(message);
  });
});

describe('estimateBytes (the outbox byte limit)', () => {
  it('is exact for JSON and typed columns, and close for objects', () => {
    expect(estimateBytes('[{"a":1}]', 'json')).toBe(9);
    const columns = { length: 4, ts: new Float64Array(4), user: new Int32Array(4) };
    expect(estimateBytes(columns, 'columns')).toBe(48);
    const events = Array.from({ length: 1000 }, (_, i) => ({ page: '/p1', ts: 1_700_000_000_000 + i }));
    const exact = JSON.stringify(events).length;
    expect(Math.abs(estimateBytes(events, 'structured-clone') - exact) / exact).toBeLessThan(0.05);
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    expect(estimateBytes([cyclic], 'structured-clone')).toBe(64);
  });
});
