/**
 * `npm start`: Tidemark's core in one terminal screen.
 *
 * Clicks on three pages arrive out of order (within 2 s, plus a few late
 * stragglers injected on purpose). They are counted per page in 10 s
 * event-time windows; every arrival, watermark, firing and dropped straggler
 * is printed in the order it happens. Then the final panes are checked
 * against a plain batch count, and a run is snapshotted halfway and restored.
 * Deterministic (fixed seed), synchronous, ends by itself.
 */
import { from, type Observable, tap } from 'rxjs';
import {
  count,
  createPipeline,
  eventTime,
  isRecord,
  isWatermark,
  records,
  tumbling,
  type WindowByOptions,
  type WindowResult,
  windowBy,
} from '../src/index.js';
import { batchWindows, latestPanes, seededRandom, shuffleWithin } from '../src/testing/index.js';

type Click = { page: string; user: string; ts: number; note?: string };

// `npm start | head` closes the pipe early: stop quietly instead of crashing.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  process.exit(0);
});
// ANSI colours only on a terminal, so piped output stays plain text.
const tty = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: number) => (s: string) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
const [dim, bold, red, green] = [paint(2), paint(1), paint(31), paint(32)];
const [yellow, blue, magenta, cyan] = [paint(33), paint(34), paint(35), paint(36)];
const secs = (ms: number) => (ms === Number.POSITIVE_INFINITY ? '∞' : `${(ms / 1000).toFixed(3)}s`);
const span = (w: { start: number; end: number }) => `[${w.start / 1000}s, ${w.end / 1000}s)`;

// ── The input: 36 clicks, shuffled within 2 s, plus three stragglers ──────
const MAX_OUT_OF_ORDERNESS = 2_000;
const WINDOW = tumbling(10_000);
const LATENESS = 3_000;
const PAGES = ['/home', '/pricing', '/docs'];
const USERS = ['ana', 'bo', 'cy', 'dee'];

const rand = seededRandom(7);
const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)] as T;
const inOrder: Click[] = [];
for (let i = 0, ts = 300; i < 36; i++, ts += 400 + Math.floor(rand() * 700))
  inOrder.push({ page: pick(PAGES), user: pick(USERS), ts });
const shuffled = shuffleWithin(inOrder, (c) => c.ts, MAX_OUT_OF_ORDERNESS, rand);

// Each straggler arrives right after the newest timestamp first reaches `after`.
const stragglers = [
  { after: 12_500, click: { page: '/home', user: 'eve', ts: 8_200, note: 'slow phone' } },
  { after: 23_000, click: { page: '/pricing', user: 'fay', ts: 19_100, note: 'flaky wifi' } },
  { after: 24_000, click: { page: '/docs', user: 'gus', ts: 9_400, note: 'laptop back online' } },
];
const arrivals: Click[] = [];
let newest = Number.NEGATIVE_INFINITY;
for (const click of shuffled) {
  arrivals.push(click);
  newest = Math.max(newest, click.ts);
  while (stragglers[0] && newest >= stragglers[0].after) arrivals.push(stragglers.shift()!.click);
}

// ── The pipeline: eventTime + windowBy, shared by both parts of the demo ──
const page = (c: Click) => c.page;
const windowOptions = (late: (c: Click) => void): WindowByOptions<Click, string, number, number> => ({
  key: page,
  window: WINDOW,
  aggregate: count(),
  allowedLateness: LATENESS,
  late,
  early: { count: 3 },
});
const timing = { early: yellow('early  '), 'on-time': green('on-time'), late: magenta('late   ') };

console.log(bold('tidemark: clicks per page in 10 s event-time windows'));
console.log(
  dim(`maxOutOfOrderness ${MAX_OUT_OF_ORDERNESS} ms · allowedLateness ${LATENESS} ms · early pane every 3 clicks\n`),
);
const row = (n: string, ts: string, key: string, user: string) =>
  `  ${n.padEnd(9)}${ts.padStart(10)}   ${key.padEnd(9)} ${user.padEnd(5)} `;
console.log(dim(`${row('arrival', 'event time', 'page', 'user')}${'watermark'.padStart(9)}`));

// An arrival's line waits for the watermark its record produces, if any,
// so that the watermark can be shown on the same line.
let pending: [head: string, tail: string] | undefined;
const flush = (wm = '') => {
  if (pending) console.log(`${pending[0]}${dim(wm.padStart(9))}  ${pending[1]}`.trimEnd());
  pending = undefined;
};
const dropped: Click[] = [];
const fired: WindowResult<string, number>[] = [];
let seen = Number.NEGATIVE_INFINITY;
let watermark = Number.NEGATIVE_INFINITY;
let arrived = 0;
const firstEnd = WINDOW.assign(inOrder[0]!.ts)[0]!.end;
from(arrivals)
  .pipe(
    tap((c) => {
      flush();
      const n = `#${String(++arrived).padStart(3, '0')}`;
      const behind = seen - c.ts;
      seen = Math.max(seen, c.ts);
      const mark = behind > 0 ? yellow(`↶ ${(behind / 1000).toFixed(1)}s behind`) : '';
      const note = c.note ? red(` straggler: ${c.note}`) : '';
      pending = [row(n, secs(c.ts), c.page, c.user), `${mark}${note}`];
    }),
    eventTime({ timestamp: (c: Click) => c.ts, maxOutOfOrderness: MAX_OUT_OF_ORDERNESS }),
    // eventTime's output is a timed stream: each record, then the watermark whenever it advances.
    tap((el) => {
      if (!isWatermark(el)) return;
      const [before, after] = [watermark, (watermark = el.watermark)];
      if (after === Number.POSITIVE_INFINITY) {
        flush();
        console.log(blue('  ─── input complete: watermark → ∞, every open window fires'));
        return;
      }
      if (pending) flush(secs(after));
      else console.log(dim(`${row('', '', '', '')}${secs(after).padStart(9)}`));
      // The last timestamp (end - 1) of the latest window the watermark has passed.
      const closes = WINDOW.assign(after)[0]!.start - 1;
      if (closes > before && closes >= firstEnd - 1) {
        const end = `${(closes + 1) / 1000}s`;
        console.log(blue(`  ─── watermark passed ${secs(closes)}: windows ending at ${end} are on time`));
      }
    }),
    windowBy(
      windowOptions((c) => {
        flush();
        dropped.push(c);
        const w = WINDOW.assign(c.ts)[0]!;
        const closed = secs(w.end - 1 + LATENESS);
        console.log(red(`           ✗ dropped ${c.page} at ${secs(c.ts)}: ${span(w)} closed for good at ${closed}`));
      }),
    ),
  )
  .subscribe((el) => {
    if (!isRecord(el)) return; // windowBy forwards the watermarks too; already shown above
    flush();
    const r = el.value;
    fired.push(r);
    console.log(
      cyan(`           ▶ ${r.key.padEnd(9)} ${span(r).padEnd(10)} = ${String(r.value).padStart(2)}`) +
        `  ${timing[r.timing]} ${dim(`pane ${r.pane}`)}`,
    );
  });

// ── Stream vs batch: the final pane of each window is the batch answer ────
const batch = batchWindows(arrivals, { timestamp: (c) => c.ts, key: page, window: WINDOW, aggregate: count() });
const final = latestPanes(fired);
console.log(bold('\nfinal panes vs a plain batch count over every click'));
console.log(dim('  page      window        batch  stream  dropped'));
let agree = true;
for (const b of batch) {
  const s = final.find((f) => f.key === b.key && f.start === b.start);
  const lost = dropped.filter((c) => c.page === b.key && WINDOW.assign(c.ts)[0]!.start === b.start).length;
  const ok = (s?.value ?? 0) + lost === b.value;
  agree &&= ok;
  const why = lost ? dim(` = batch − ${lost} dropped`) : '';
  console.log(
    `  ${b.key.padEnd(9)} ${span(b).padEnd(13)} ${String(b.value).padStart(5)} ${String(s?.value ?? '-').padStart(7)}` +
      ` ${String(lost || '').padStart(8)}  ${ok ? green('✓') : red('✗')}${why}`,
  );
}
console.log(agree ? green('  every window agrees with the batch count') : red('  MISMATCH'));

// ── Snapshot halfway, restore into a new run, continue ─────────────────
const clicks = createPipeline((events$: Observable<Click>) =>
  events$.pipe(
    eventTime({ timestamp: (c: Click) => c.ts, maxOutOfOrderness: MAX_OUT_OF_ORDERNESS }),
    windowBy(windowOptions(() => {})),
    records(),
  ),
);
const total = (rs: WindowResult<string, number>[]) => latestPanes(rs).reduce((sum, w) => sum + w.value, 0);
const whole: WindowResult<string, number>[] = [];
clicks.run(arrivals, (r) => whole.push(r));

const half = Math.floor(arrivals.length / 2);
const resumed: WindowResult<string, number>[] = [];
const first = clicks.open((r) => resumed.push(r));
first.pushAll(arrivals.slice(0, half));
const saved = JSON.stringify(first.snapshot()); // what a host would store: IndexedDB, a file…
first.unsubscribe();
const second = clicks.open((r) => resumed.push(r), { restore: JSON.parse(saved) });
second.pushAll(arrivals.slice(half));
second.end();

const same = JSON.stringify(latestPanes(whole)) === JSON.stringify(latestPanes(resumed));
console.log(bold('\nsnapshot / restore with createPipeline'));
const counted = (rs: WindowResult<string, number>[]) => `${String(total(rs)).padStart(3)} clicks counted`;
console.log(`  uninterrupted run                     ${counted(whole)} (${dropped.length} dropped)`);
console.log(`  snapshot after ${half} of ${arrivals.length} (${saved.length} bytes JSON)`);
console.log(`  restored into a new run, fed the rest ${counted(resumed)}`);
console.log(same ? green('  identical final panes ✓') : red('  final panes differ ✗'));
