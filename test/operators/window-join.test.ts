import fc from 'fast-check';
import { NEVER } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  createPipeline,
  type PipelineSnapshot,
  records,
  session,
  sliding,
  type Timed,
  tumbling,
  type WindowAssigner,
  windowJoin,
} from '../../src/index.js';
import { type Side, sidedEvents, twoSided } from './join-fixtures.js';

const BOUND = 10;

const assigners = fc.oneof(
  fc.integer({ min: 1, max: 40 }).map((n) => tumbling(n)),
  fc.integer({ min: 1, max: 20 }).chain((slide) => fc.integer({ min: slide, max: 50 }).map((size) => sliding(size, slide))),
  fc.integer({ min: 1, max: 30 }).map((gap) => session(gap)),
);

function batchWindowJoin(events: Side[], w: WindowAssigner): string[] {
  const out: string[] = [];
  const L = events.filter((e) => e.side === 'L');
  const R = events.filter((e) => e.side === 'R');
  if (w.kind !== 'session') {
    for (const a of L)
      for (const b of R) {
        if (a.k !== b.k) continue;
        for (const wa of w.assign(a.ts))
          if (w.assign(b.ts).some((wb) => wb.start === wa.start)) out.push(`${a.id}-${b.id}@${wa.end - 1}`);
      }
    return out.sort();
  }
  // Sessions over both sides of a key: sorted, split where the next record starts after the session's end.
  const keys = new Set(events.map((e) => e.k));
  for (const k of keys) {
    const list = events.filter((e) => e.k === k).sort((a, b) => a.ts - b.ts);
    let group: Side[] = [];
    let end = Number.NEGATIVE_INFINITY;
    const flush = () => {
      for (const a of group) for (const b of group) if (a.side === 'L' && b.side === 'R') out.push(`${a.id}-${b.id}@${end}`);
    };
    for (const e of list) {
      if (e.ts > end) {
        flush();
        group = [];
      }
      group.push(e);
      end = Math.max(end, e.ts + w.gap);
    }
    flush();
  }
  return out.sort();
}

const pipelineOf = (w: WindowAssigner) =>
  createPipeline(
    twoSided<Timed<string>>(BOUND, (left$, right$) =>
      left$.pipe(
        windowJoin(right$, {
          leftKey: (e: Side) => e.k,
          rightKey: (e: Side) => e.k,
          window: w,
          select: (a, b, span) => `${a.id}-${b.id}@${w.kind === 'session' ? span.end : span.end - 1}`,
        }),
      ),
    ),
  );

describe('windowJoin', () => {
  it('gives the batch window join for tumbling, sliding and session windows, in any order within the bound', () => {
    fc.assert(
      fc.property(sidedEvents(BOUND), assigners, (events, w) => {
        const timed: Timed<string>[] = [];
        const run = pipelineOf(w).open((el) => timed.push(el));
        run.pushAll(events);
        expect(run.stats()['windowJoin#0']).toMatchObject({ lateRecords: 0 });
        run.end();
        let wm = Number.NEGATIVE_INFINITY;
        const rows: string[] = [];
        for (const el of timed) {
          if (el.kind === 'watermark') wm = el.watermark;
          else {
            expect(el.timestamp).toBeGreaterThan(wm);
            expect(el.value.endsWith(`@${el.timestamp}`)).toBe(true);
            rows.push(el.value);
          }
        }
        expect(rows.sort()).toEqual(batchWindowJoin(events, w));
      }),
      { numRuns: 300 },
    );
  });

  it('snapshot → restore → continue equals the uninterrupted run', () => {
    fc.assert(
      fc.property(sidedEvents(BOUND), assigners, fc.nat(), (events, w, cut) => {
        const p = pipelineOf(w);
        const whole: unknown[] = [];
        const all = p.open((el) => whole.push(el));
        all.pushAll(events);
        all.end();
        const at = cut % (events.length + 1);
        const parts: unknown[] = [];
        const first = p.open((el) => parts.push(el));
        first.pushAll(events.slice(0, at));
        const saved = JSON.parse(JSON.stringify(first.snapshot())) as PipelineSnapshot;
        first.unsubscribe();
        const second = p.open((el) => parts.push(el), { restore: saved });
        second.pushAll(events.slice(at));
        second.end();
        expect(parts).toEqual(whole);
      }),
      { numRuns: 200 },
    );
  });

  it('sends a record whose windows all fired to late, counted in stats', () => {
    const late: string[] = [];
    const out: unknown[] = [];
    const run = createPipeline(
      twoSided(0, (l$, r$) =>
        l$.pipe(
          windowJoin(r$, {
            leftKey: (e: Side) => e.k,
            rightKey: (e: Side) => e.k,
            window: tumbling(10),
            late: (e, ts, side) => late.push(`${(e as Side).id}@${ts} ${side}`),
          }),
          records(),
        ),
      ),
    ).open((r) => out.push(r));
    run.pushAll([
      { side: 'L', k: 1, ts: 25, id: 0 },
      { side: 'R', k: 1, ts: 25, id: 1 }, // both inputs at 24: [0, 10) and [10, 20) have fired
      { side: 'R', k: 1, ts: 5, id: 2 },
    ]);
    expect(late).toEqual(['2@5 right']);
    expect(run.stats()['windowJoin#0']).toMatchObject({ lateRecords: 1, watermark: 24 });
    run.end();
    expect(out).toHaveLength(1);
  });

  it('refuses bad options at creation, each saying how to fix it', () => {
    expect(() => windowJoin(NEVER, { window: tumbling(10) } as never)).toThrow(/needs a key on each side/);
    expect(() => windowJoin(NEVER, { leftKey: () => 1, rightKey: () => 1, window: 10 as never })).toThrow(
      /windowJoin.window: expected tumbling\(size\), sliding\(size, slide\) or session\(gap\)/,
    );
    expect(() => windowJoin('clicks' as never, { leftKey: () => 1, rightKey: () => 1, window: tumbling(10) })).toThrow(/eventTime/);
  });

  it('emits { left, right } by default, for the pairs of each window', () => {
    const out: unknown[] = [];
    createPipeline(twoSided(0, (l$, r$) => l$.pipe(windowJoin(r$, { leftKey: (e: Side) => e.k, rightKey: (e: Side) => e.k, window: tumbling(10) }), records())))
      .run([{ side: 'L', k: 1, ts: 1, id: 0 }, { side: 'R', k: 1, ts: 9, id: 1 }, { side: 'R', k: 1, ts: 10, id: 2 }], (r) => out.push(r));
    expect(out).toEqual([{ left: { side: 'L', k: 1, ts: 1, id: 0 }, right: { side: 'R', k: 1, ts: 9, id: 1 } }]);
  });
});
