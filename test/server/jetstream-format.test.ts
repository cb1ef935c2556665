// The JetStream log's message layout, without a server.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { Coverage } from '../../src/host/ingest/coverage.js';
import {
  clientOf,
  COVERAGE_MAX_CHARS,
  decodeBody,
  decodeCoverage,
  encodeChunks,
  encodeCoverage,
  eventSubject,
  subjectCovers,
  utf8Length,
} from '../../src/server/jetstream-format.js';

/** Stops a run (shrinking included) after 5 s; a failure found by then is still reported. */
const SHRINK_LIMIT = { plugins: [fc.interruptAfterTimeLimit(5_000)] };

describe('subjects', () => {
  it.each([
    ['t.events.*', 't.events.*', true],
    ['t.events.>', 't.events.*', true],
    ['t.>', 't.events.*', true],
    ['>', 't.events.*', true],
    ['*.events.*', 't.events.*', true],
    ['t.events.a', 't.events.*', false],
    ['t.events', 't.events.*', false],
    ['t.events.*.x', 't.events.*', false],
    ['u.events.*', 't.events.*', false],
    ['t.events.*', 'a.t.events.*', false],
  ])('%s captures %s: %s', (pattern, target, covers) => {
    expect(subjectCovers(pattern, target)).toBe(covers);
  });

  it('builds a subject only from a valid client id', () => {
    expect(eventSubject('t', 'c-1_A')).toBe('t.events.c-1_A');
    for (const id of ['a.b', '*', '>', '', 'a b', 'x'.repeat(129)]) expect(() => eventSubject('t', id)).toThrow(ProtocolError);
    expect(clientOf('t', 't.events.c1')).toBe('c1');
    expect(clientOf('t', 't.events.c1.x')).toBeUndefined();
    expect(clientOf('t', 'u.events.c1')).toBeUndefined();
  });
});

describe('coverage header', () => {
  it('round-trips any coverage that fits, and says * when it does not', () => {
    // size 'max': fast-check's default size keeps arrays to ~10 elements
    // whatever maxLength says, and the '*' branch then never runs. Values
    // that large shrink for minutes after a failure: SHRINK_LIMIT bounds it.
    const seen = { exact: 0, star: 0 };
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 5_000 }), { maxLength: 2_000, size: 'max' }), (seqs) => {
        const c = new Coverage();
        c.add([...seqs].sort((a, b) => a - b));
        const header = encodeCoverage(c);
        const back = decodeCoverage(header);
        seen[header === '*' ? 'star' : 'exact']++;
        if (header === '*') {
          expect(c.above.length).toBeGreaterThan(COVERAGE_MAX_CHARS / 10);
          expect(back).toBe('scan');
        } else {
          expect(header.length).toBeLessThanOrEqual(COVERAGE_MAX_CHARS);
          expect(back).toBeInstanceOf(Coverage);
          const d = back as Coverage;
          expect([d.through, d.above, d.count]).toEqual([c.through, c.above, c.count]);
        }
      }),
      SHRINK_LIMIT,
    );
    expect(seen.exact).toBeGreaterThan(0);
    expect(seen.star).toBeGreaterThan(0);
  });

  it('the union of two coverages holds exactly what either holds', () => {
    const set = fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { maxLength: 40 });
    fc.assert(
      fc.property(set, set, (xs, ys) => {
        const of = (seqs: number[]) => {
          const c = new Coverage();
          c.add([...seqs].sort((x, y) => x - y));
          return c;
        };
        const u = Coverage.union(of(xs), of(ys));
        const want = new Set([...xs, ...ys]);
        for (let seq = 1; seq <= 61; seq++) expect(u.has(seq)).toBe(want.has(seq));
        expect(u.count).toBe(want.size);
        expect(decodeCoverage(encodeCoverage(u))).toEqual(u);
      }),
    );
  });

  it('refuses what Coverage could not hold', () => {
    for (const bad of ['', 'x', '-1', '5;3-4', '5;7-6', '5;7-9,9-12', '5;7-9,10-12', '1;3-4;']) expect(decodeCoverage(bad)).toBeUndefined();
    expect(decodeCoverage('5;7-9,11-12')).toMatchObject({ through: 5, above: [[7, 9], [11, 12]], count: 10 });
  });
});

describe('message bodies', () => {
  it('splits a batch so that every body fits, keeping every event once and in order', () => {
    // size 'max' (see above): at the default size no batch is large enough to split.
    let split = 0;
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ maxLength: 300, size: 'max' }),
            fc.string({ unit: 'grapheme', maxLength: 100, size: 'max' }),
            fc.integer(),
          ),
          { minLength: 1, maxLength: 200, size: 'max' },
        ),
        fc.integer({ min: 1_500, max: 20_000 }),
        (data, max) => {
          const events = data.map((d, i) => ({ seq: i + 1, ts: i * 1.5, data: { d } }));
          const chunks = encodeChunks(events, 42, max);
          if (chunks.length > 1) split++;
          const back = chunks.flatMap((c, i) => {
            expect(c.body.length).toBeLessThanOrEqual(max);
            return decodeBody('c', c.body, i);
          });
          expect(back).toEqual(events.map((e) => ({ clientId: 'c', seq: e.seq, ts: e.ts, receivedAt: 42, data: e.data })));
        },
      ),
      SHRINK_LIMIT,
    );
    expect(split).toBeGreaterThan(0);
  });

  it('counts UTF-8 bytes as TextEncoder does', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (s) => {
        expect(utf8Length(s)).toBe(new TextEncoder().encode(s).length);
      }),
    );
  });

  it('refuses an event no message can hold, and a body that is not a batch', () => {
    expect(() => encodeChunks([{ seq: 1, ts: 0, data: 'x'.repeat(2_000) }], 0, 1_500)).toThrow(/event 1 takes 2008 bytes/);
    expect(() => decodeBody('c', new TextEncoder().encode('{"x":1}'), 7)).toThrow(/message 7 of client c is not a Tidemark batch/);
  });
});
