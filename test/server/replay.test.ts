import type { Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { count, eventTime, filterRecords, sum, tumbling, windowBy } from '../../src/index.js';
import { type BatchPipeline, type EventLog, memoryLog, replay } from '../../src/server/index.js';
import { batchWindows, seededRandom, shuffleWithin } from '../../src/testing/index.js';

interface Click {
  readonly page: string;
  readonly bot: boolean;
  readonly ts: number;
}

const counts =
  (keep: (e: Click) => boolean = () => true): BatchPipeline<Click> =>
  (events$: Observable<Click>) =>
    events$.pipe(
      eventTime({ timestamp: (e: Click) => e.ts, maxOutOfOrderness: 1_000 }),
      filterRecords(keep),
      windowBy({ key: (e: Click) => e.page, window: tumbling(60_000), aggregate: count() }),
    );

async function logOf(clients: number, n: number): Promise<{ log: EventLog; events: Map<string, Click[]> }> {
  const log = memoryLog();
  const events = new Map<string, Click[]>();
  const rand = seededRandom(7);
  for (let c = 0; c < clients; c++) {
    const list = Array.from({ length: n }, (_, i) => ({
      page: `/p${Math.floor(rand() * 4)}`,
      bot: rand() < 0.05,
      ts: 5_000 + i * 1_500,
    }));
    // Arrival far out of order: the batch runs must sort it.
    const arrival = shuffleWithin(list, (e) => e.ts, 30_000, rand);
    events.set(`c${c}`, arrival);
    await log.append(`c${c}`, arrival.map((data, i) => ({ seq: i + 1, ts: data.ts, data })), 0);
  }
  return { log, events };
}

const batch = (events: readonly Click[], keep: (e: Click) => boolean = () => true) =>
  batchWindows(events.filter(keep), {
    timestamp: (e) => e.ts,
    key: (e) => e.page,
    window: tumbling(60_000),
    aggregate: count(),
  });

describe('replay', () => {
  it('finds exactly the windows that change when a filter is added', async () => {
    const { log, events } = await logOf(3, 300);
    const humans = (e: Click) => !e.bot;
    const report = await replay({ log, baseline: counts(), pipeline: counts(humans) });

    const expected = [...events].flatMap(([clientId, list]) => {
      const after = new Map(batch(list, humans).map((w) => [`${w.key}@${w.start}`, w.value]));
      return batch(list).flatMap((w) => {
        const candidate = after.get(`${w.key}@${w.start}`);
        return candidate === w.value
          ? []
          : [{ clientId, key: w.key, start: w.start, end: w.end, baseline: w.value, candidate: candidate ?? null }];
      });
    });
    expect(expected.length).toBeGreaterThan(0);
    expect(report.differences).toEqual(expected);
    const onlyInBaseline = expected.filter((d) => d.candidate === null).length;
    const total = [...events.values()].reduce((n, list) => n + batch(list).length, 0);
    expect(report).toMatchObject({
      clients: 3,
      events: 900,
      changed: expected.length - onlyInBaseline,
      onlyInBaseline,
      onlyInCandidate: 0,
      same: total - expected.length,
      truncated: false,
      failures: [],
    });
  });

  it('reports nothing for the same pipeline, and windows only the candidate has', async () => {
    const { log } = await logOf(2, 100);
    const same = await replay({ log, baseline: counts(), pipeline: counts() });
    expect([same.changed, same.onlyInBaseline, same.onlyInCandidate, same.differences]).toEqual([0, 0, 0, []]);
    expect(same.same).toBeGreaterThan(0);

    const byUser: BatchPipeline<Click> = (events$) =>
      events$.pipe(
        eventTime({ timestamp: (e: Click) => e.ts, maxOutOfOrderness: 1_000 }),
        windowBy({ key: (e: Click) => e.page, window: tumbling(60_000), aggregate: sum(() => 1) }),
        filterRecords((r) => r.key !== '/p0'),
      );
    const added = await replay({ log, baseline: byUser, pipeline: counts() });
    expect(added.onlyInCandidate).toBeGreaterThan(0);
    expect(added.changed).toBe(0);
    expect(added.differences.every((d) => d.key === '/p0' && d.baseline === null)).toBe(true);
  });

  it('reports a client whose run failed and compares the others', async () => {
    const log = memoryLog();
    const click = (page: string, bot: boolean, ts: number) => ({ page, bot, ts });
    await log.append('a', [click('/a', false, 1_000), click('/a', false, 2_000)].map((data, i) => ({ seq: i + 1, ts: data.ts, data })), 0);
    await log.append('b', [click('/b', true, 1_000)].map((data, i) => ({ seq: i + 1, ts: data.ts, data })), 0);
    const noBots = counts((e) => {
      if (e.bot) throw new RangeError('bot');
      return true;
    });
    const report = await replay({ log, baseline: counts(), pipeline: noBots });
    expect(report.failures).toEqual([{ clientId: 'b', pipeline: 'candidate', name: 'RangeError', message: 'bot' }]);
    expect(report).toMatchObject({ clients: 2, events: 3, same: 1, changed: 0, onlyInBaseline: 0, differences: [] });
  });

  it('lists at most maxDifferences, counting them all', async () => {
    const { log } = await logOf(2, 200);
    const report = await replay({ log, baseline: counts(), pipeline: counts((e) => e.page !== '/p1'), maxDifferences: 3 });
    expect(report.differences).toHaveLength(3);
    expect(report.truncated).toBe(true);
    expect(report.onlyInBaseline).toBeGreaterThan(3);
  });
});
