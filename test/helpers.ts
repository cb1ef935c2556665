// Shared fixtures for the core tests.
import { from, type Observable } from 'rxjs';
import { eventTime, records, type Timed, type WindowResult, windowBy, type WindowByOptions } from '../src/index.js';

export interface Ev {
  readonly k: string;
  readonly ts: number;
}

export const ev = (k: string, ts: number): Ev => ({ k, ts });

/** Runs events through eventTime + windowBy + records, collecting results and late events. */
export function windowed<A, R>(
  events: Ev[],
  options: Omit<WindowByOptions<Ev, string, A, R>, 'key' | 'late'>,
  maxOutOfOrderness = 0,
) {
  const results: WindowResult<string, R>[] = [];
  const late: Ev[] = [];
  let error: unknown;
  from(events)
    .pipe(
      eventTime({ timestamp: (e: Ev) => e.ts, maxOutOfOrderness }),
      windowBy({ key: (e: Ev) => e.k, late: (e) => late.push(e), ...options }),
      records(),
    )
    .subscribe({ next: (r) => results.push(r), error: (e) => (error = e) });
  if (error) throw error;
  return { results, late };
}

/** A compact form of results for assertions: "key[start,end)=value timing#pane". */
export const brief = (r: WindowResult<string | number, unknown>) =>
  `${r.key}[${r.start},${r.end})=${String(r.value)} ${r.timing}#${r.pane}`;

/** Collects a timed stream as a readable trace: "r:value@ts" and "w:watermark". */
export function trace<T>(source: Observable<Timed<T>>, show: (v: T) => string = String): string[] {
  const out: string[] = [];
  source.subscribe((el) => out.push(el.kind === 'record' ? `r:${show(el.value)}@${el.timestamp}` : `w:${el.watermark}`));
  return out;
}

/** Polls `check` (real time) until it holds; throws naming `what` after `timeoutMs`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 5_000, everyMs = 5 }: { timeoutMs?: number; everyMs?: number } = {},
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
