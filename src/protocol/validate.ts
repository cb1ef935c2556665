/**
 * Validation of wire bodies, shared by the server (which refuses) and the
 * client (which never sends what the server would refuse).
 *
 * @module
 */
import { describe, ProtocolError } from '../errors.js';
import type { IngestRequest, WireEvent, WireResult } from './wire.js';
import { LIMITS } from './wire.js';

/**
 * Whether `id` is an acceptable client id: 1–128 characters of
 * `A–Z a–z 0–9 _ -` (so it is safe as a file name and a NATS subject token).
 *
 * @example
 * ```ts
 * import { isClientId } from 'tidemark/protocol';
 * console.log(isClientId('3f9a-c1'), isClientId('../x'), isClientId('a.>')); // true false false
 * ```
 */
export function isClientId(id: unknown): id is string {
  return typeof id === 'string' && id.length <= 128 && LIMITS.clientIdPattern.test(id);
}

/**
 * Checks a client id, throwing a `400` {@link ProtocolError} that names
 * `field` and never echoes a long or hostile value back.
 *
 * @example
 * ```ts
 * import { requireClientId } from 'tidemark/protocol';
 * const id: string = requireClientId(new URLSearchParams('clientId=c1').get('clientId'));
 * ```
 */
export function requireClientId(id: unknown, field = 'clientId'): string {
  if (typeof id !== 'string') throw new ProtocolError(400, `expected a string, got ${describe(id)}`, field);
  if (id.length === 0 || id.length > 128)
    throw new ProtocolError(400, `must be 1 to 128 characters long, got ${id.length}`, field);
  if (!LIMITS.clientIdPattern.test(id))
    throw new ProtocolError(400, 'may only hold the characters A-Z a-z 0-9 _ -', field);
  return id;
}

/**
 * Validates a parsed `POST /v1/ingest` body, all or nothing: answers it
 * typed, or throws a `400` {@link ProtocolError} naming the first bad field.
 * Events must have sequence numbers that are whole numbers ≥ 1, strictly
 * increasing, finite timestamps, and a `data` field; a request holds at
 * least one event or result.
 *
 * @example
 * ```ts
 * import { parseIngest } from 'tidemark/protocol';
 * const req = parseIngest(JSON.parse('{"clientId":"c1","events":[{"seq":1,"ts":5,"data":{"x":1}}]}'));
 * console.log(req.events.length); // 1
 * ```
 */
export function parseIngest(body: unknown): IngestRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ProtocolError(400, `expected a JSON object, got ${describe(body)}`, 'body');
  const b = body as Record<string, unknown>;
  const clientId = requireClientId(b['clientId']);
  const events = b['events'];
  if (!Array.isArray(events)) throw new ProtocolError(400, `expected an array, got ${describe(events)}`, 'events');
  if (events.length > LIMITS.maxEventsPerRequest)
    throw new ProtocolError(413, `at most ${LIMITS.maxEventsPerRequest} events per request, got ${events.length}`, 'events');
  let last = 0;
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as Partial<WireEvent> | null;
    const at = `events[${i}]`;
    if (typeof e !== 'object' || e === null || Array.isArray(e))
      throw new ProtocolError(400, `expected an object {seq, ts, data}, got ${describe(e)}`, at);
    const { seq, ts } = e;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1)
      throw new ProtocolError(400, `must be a whole number >= 1, got ${describe(seq)}`, `${at}.seq`);
    if (seq <= last)
      throw new ProtocolError(400, `sequence numbers must strictly increase within a request (${seq} after ${last})`, `${at}.seq`);
    last = seq;
    if (ts !== null && (typeof ts !== 'number' || !Number.isFinite(ts)))
      throw new ProtocolError(400, `must be a finite number (event time in ms) or null (not readable), got ${describe(ts)}`, `${at}.ts`);
    if (!('data' in e)) throw new ProtocolError(400, 'missing; every event carries its data (null is allowed)', `${at}.data`);
  }
  const results = b['results'];
  if (results !== undefined) parseResults(results);
  if (events.length === 0 && (results === undefined || (results as unknown[]).length === 0))
    throw new ProtocolError(400, 'empty batch: send at least one event or result', 'events');
  const watermark = b['watermark'];
  if (watermark !== undefined && (typeof watermark !== 'number' || !Number.isFinite(watermark)))
    throw new ProtocolError(400, `must be a finite number (the client's event-time watermark in ms) or absent, got ${describe(watermark)}`, 'watermark');
  return {
    clientId,
    events: events as WireEvent[],
    ...(results === undefined ? {} : { results: results as WireResult[] }),
    ...(watermark === undefined ? {} : { watermark }),
  };
}

function parseResults(results: unknown): void {
  if (!Array.isArray(results)) throw new ProtocolError(400, `expected an array, got ${describe(results)}`, 'results');
  if (results.length > LIMITS.maxResultsPerRequest)
    throw new ProtocolError(413, `at most ${LIMITS.maxResultsPerRequest} results per request, got ${results.length}`, 'results');
  for (let i = 0; i < results.length; i++) {
    const r = results[i] as Partial<WireResult> | null;
    const at = `results[${i}]`;
    if (typeof r !== 'object' || r === null || Array.isArray(r))
      throw new ProtocolError(400, `expected an object {key, start, end, value, pane}, got ${describe(r)}`, at);
    if (!(typeof r.key === 'string' || (typeof r.key === 'number' && Number.isFinite(r.key))))
      throw new ProtocolError(400, `must be a string or a finite number, got ${describe(r.key)}`, `${at}.key`);
    if (typeof r.start !== 'number' || !Number.isFinite(r.start))
      throw new ProtocolError(400, `must be a finite number, got ${describe(r.start)}`, `${at}.start`);
    if (typeof r.end !== 'number' || !Number.isFinite(r.end) || r.end < r.start)
      throw new ProtocolError(400, `must be a finite number >= start, got ${describe(r.end)}`, `${at}.end`);
    if (typeof r.pane !== 'number' || !Number.isSafeInteger(r.pane) || r.pane < 0)
      throw new ProtocolError(400, `must be a whole number >= 0, got ${describe(r.pane)}`, `${at}.pane`);
    if (!('value' in r)) throw new ProtocolError(400, 'missing', `${at}.value`);
    if (r.kind !== undefined && r.kind !== 'delete')
      throw new ProtocolError(400, `must be 'delete' or absent (a row), got ${describe(r.kind)}`, `${at}.kind`);
  }
}

/** Longest `key` a view query takes (characters). */
const MAX_VIEW_KEY = 256;

/**
 * Parses the query of `GET /v1/views` and `GET /v1/views/stream`: `from` and
 * `to` (ms, windows overlapping `[from, to)`), `key` (a window key, as a
 * string). Throws a `400` {@link ProtocolError} naming the parameter: a
 * time that is not a finite number, `from` after `to`, a key that is empty,
 * too long or holds control characters, a parameter it does not know.
 *
 * @example
 * ```ts
 * import { parseViewQuery } from 'tidemark/protocol';
 * console.log(parseViewQuery(new URLSearchParams('from=0&to=60000&key=/home'))); // { from: 0, to: 60000, key: '/home' }
 * ```
 */
export function parseViewQuery(params: URLSearchParams): { from?: number; to?: number; key?: string } {
  const out: { from?: number; to?: number; key?: string } = {};
  for (const name of params.keys())
    if (!['from', 'to', 'key', 'clientId', 'lastEventId'].includes(name))
      throw new ProtocolError(400, 'is not a parameter of the views API (it takes from, to, key, and lastEventId for the stream)', name);
  for (const name of ['from', 'to'] as const) {
    const text = params.get(name);
    if (text === null) continue;
    const n = text.trim() === '' ? Number.NaN : Number(text);
    if (!Number.isFinite(n)) throw new ProtocolError(400, `must be a time in ms (a finite number), got ${JSON.stringify(text.slice(0, 40))}`, name);
    out[name] = n;
  }
  if (out.from !== undefined && out.to !== undefined && out.from > out.to)
    throw new ProtocolError(400, `must not be after \`to\` (${out.from} > ${out.to}): the range is reversed`, 'from');
  const key = params.get('key');
  if (key !== null) {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing them is the point
    if (key.length === 0 || key.length > MAX_VIEW_KEY || /[\u0000-\u001f\u007f]/.test(key))
      throw new ProtocolError(400, `must be 1 to ${MAX_VIEW_KEY} characters without control characters`, 'key');
    out.key = key;
  }
  return out;
}

/**
 * Parses a `Last-Event-ID` (header, or `lastEventId` parameter): a whole
 * number ≥ 0, or `undefined` when absent. Throws a `400` {@link ProtocolError}.
 *
 * @example
 * ```ts
 * import { parseLastEventId } from 'tidemark/protocol';
 * console.log(parseLastEventId('42'), parseLastEventId(null)); // 42 undefined
 * ```
 */
export function parseLastEventId(text: string | null): number | undefined {
  if (text === null || text === '') return undefined;
  const n = /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new ProtocolError(400, `must be the id of a change (a whole number >= 0), got ${JSON.stringify(text.slice(0, 40))}`, 'Last-Event-ID');
  return n;
}
