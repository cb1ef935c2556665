/**
 * HTTP dates (RFC 9110 §5.6.7), parsed exactly: the three formats a
 * recipient must accept, and nothing else. `Date.parse` is not used: it
 * takes far more than HTTP dates, differently per engine (in V8,
 * `Date.parse('7')` is a day in 2001), which would turn a malformed
 * `Retry-After` into a wait of years.
 *
 * @internal
 * @module
 */

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
/** `Sun, 06 Nov 1994 08:49:37 GMT` (the one to send). */
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
/** `Sunday, 06-Nov-94 08:49:37 GMT` (obsolete). */
const RFC850 = new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);
/** `Sun Nov  6 08:49:37 1994` (obsolete: C's asctime). */
const ASCTIME = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/**
 * Milliseconds since the epoch of an HTTP date, or `undefined` when `text`
 * is not one (or names a day that does not exist, like 31 Feb). A two-digit
 * year (RFC 850) more than 50 years after `now`'s year is read as the
 * latest past year with those digits, as RFC 9110 requires.
 */
export function parseHttpDate(text: string, now: number): number | undefined {
  let day: string, month: string, year: number, time: [string, string, string];
  let m = IMF_FIXDATE.exec(text);
  if (m) [day, month, year, time] = [m[1]!, m[2]!, Number(m[3]), [m[4]!, m[5]!, m[6]!]];
  else if ((m = RFC850.exec(text))) {
    // The latest year ending in these digits that is at most 50 years ahead.
    const latest = new Date(now).getUTCFullYear() + 50;
    year = Math.floor(latest / 100) * 100 + Number(m[3]);
    if (year > latest) year -= 100;
    [day, month, time] = [m[1]!, m[2]!, [m[4]!, m[5]!, m[6]!]];
  } else if ((m = ASCTIME.exec(text))) [month, day, time, year] = [m[1]!, m[2]!, [m[3]!, m[4]!, m[5]!], Number(m[6])];
  else return undefined;
  const [h, min, s] = time.map(Number) as [number, number, number];
  const d = Number(day.trim());
  const mon = MONTHS.indexOf(month);
  if (h > 23 || min > 59 || s > 60 || d < 1) return undefined;
  // setUTCFullYear, not Date.UTC, which reads years 0–99 as 1900–1999.
  const date = new Date(0);
  date.setUTCFullYear(year, mon, d);
  if (date.getUTCDate() !== d) return undefined; // 31 Feb rolled over into March
  // Second 60 is a leap second, which Date cannot hold: it reads as the next minute's first.
  return date.setUTCHours(h, min, 0, 0) + s * 1000;
}
