/**
 * How the JetStream log lays events out in a stream: subjects, message
 * bodies, the coverage header and message ids. Pure functions, no NATS
 * client, so that the format can be read and tested on its own.
 *
 * One message holds one client's batch (or part of it, when it exceeds the
 * server's `max_payload`):
 *
 * - subject `<prefix>.events.<clientId>`;
 * - body `{"receivedAt":<ms>,"events":[[seq,ts,data],…]}` (UTF-8 JSON),
 *   sequence numbers strictly increasing;
 * - header `Tidemark-Format: 1`;
 * - header `Tidemark-Coverage`: which sequence numbers the subject holds
 *   *including this message*, as `<through>` or
 *   `<through>;<first>-<last>,<first>-<last>…` (ranges above a gap), or `*`
 *   when that list would not fit in {@link COVERAGE_MAX_CHARS}. Writers
 *   publish with an expected last subject sequence, so the header of a
 *   subject's last message is exact, and reopening a log reads one
 *   message per client;
 * - header `Tidemark-First`: the stream sequence of the subject's first
 *   message, `0` on that first message itself (its own sequence is not
 *   known before it is stored). Orders clients by first appearance;
 * - header `Nats-Msg-Id: <clientId>:<firstSeq>-<lastSeq>` (the stream's
 *   duplicate window as a second guard).
 *
 * @internal
 * @module
 */
import { describe, InvalidOptionError, ProtocolError, StorageError } from '../errors.js';
import { isClientId, requireClientId } from '../protocol/validate.js';
import type { WireEvent } from '../protocol/wire.js';
import { Coverage } from '../host/ingest/coverage.js';
import type { LoggedEvent } from '../host/ingest/log.js';

export const FORMAT_HEADER = 'Tidemark-Format';
export const COVERAGE_HEADER = 'Tidemark-Coverage';
export const FIRST_HEADER = 'Tidemark-First';
export const FORMAT = '1';

/**
 * Longest coverage header written; above it, `*` (a reader then scans the
 * subject). Bounds the header's share of a message: a client whose batches
 * arrive so scattered that it has hundreds of gaps is rare and scanning it
 * once on open is cheap next to the messages it already takes.
 */
export const COVERAGE_MAX_CHARS = 4096;

/**
 * Bytes of a message kept for headers (coverage, format, first, message id,
 * expected sequence, and NATS' framing), so that body + headers stay within
 * `max_payload`, which counts both.
 */
export const HEADER_RESERVE = COVERAGE_MAX_CHARS + 1024;

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Checks `tidemark.events`-style prefixes: dot-separated tokens of `A-Z a-z 0-9 _ -`. */
export function requireSubjectPrefix(option: string, prefix: unknown): string {
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 200 || !prefix.split('.').every((t) => TOKEN.test(t)))
    throw new InvalidOptionError(
      option,
      `must be dot-separated tokens of A-Z a-z 0-9 _ - (no wildcards, spaces or empty tokens), got ${describe(prefix)}`,
    );
  return prefix;
}

/** Checks a stream name: what JetStream accepts, without dots, spaces or wildcards. */
export function requireStreamName(option: string, name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 200 || !TOKEN.test(name))
    throw new InvalidOptionError(option, `must be 1-200 characters of A-Z a-z 0-9 _ -, got ${describe(name)}`);
  return name;
}

/** The subject of a client's events; refuses an id that could escape its token (a `.`, `*` or `>`). */
export function eventSubject(prefix: string, clientId: string): string {
  return `${prefix}.events.${requireClientId(clientId)}`;
}

/** The client id of an event subject, or `undefined` when the subject is not one. */
export function clientOf(prefix: string, subject: string): string | undefined {
  const head = `${prefix}.events.`;
  if (!subject.startsWith(head)) return undefined;
  const id = subject.slice(head.length);
  return isClientId(id) ? id : undefined;
}

/**
 * Whether a stream subject (which may hold `*` and `>`) captures every
 * subject matching `target` (whose `*` tokens stand for any client id).
 */
export function subjectCovers(pattern: string, target: string): boolean {
  const p = pattern.split('.');
  const t = target.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return i < t.length;
    if (i >= t.length) return false;
    if (p[i] === '*') continue;
    if (p[i] !== t[i] || t[i] === '*' || t[i] === '>') return false;
  }
  return p.length === t.length;
}

/**
 * `<clientId>:<first>`: the `Nats-Msg-Id` of a message. By its first
 * sequence number only: two processes publishing batches of one client that
 * start at the same event (a retry sent elsewhere, with more events) are
 * deduplicated by the stream itself.
 */
export function messageId(clientId: string, events: readonly WireEvent[]): string {
  return `${clientId}:${events[0]!.seq}`;
}

/** The coverage header's value (see the module comment). */
export function encodeCoverage(c: Coverage): string {
  if (c.above.length === 0) return String(c.through);
  let out = `${c.through};`;
  for (let i = 0; i < c.above.length; i++) {
    const [first, last] = c.above[i]!;
    out += i === 0 ? `${first}-${last}` : `,${first}-${last}`;
    if (out.length > COVERAGE_MAX_CHARS) return '*';
  }
  return out;
}

/**
 * Parses a coverage header: the coverage, `'scan'` for `*`, or `undefined`
 * when the value is not a coverage header at all.
 */
export function decodeCoverage(value: string): Coverage | 'scan' | undefined {
  if (value === '*') return 'scan';
  const m = /^(\d+)(?:;(\d+-\d+(?:,\d+-\d+)*))?$/.exec(value);
  if (!m) return undefined;
  const c = new Coverage();
  c.through = Number(m[1]);
  c.count = c.through;
  let prev = c.through + 1;
  for (const range of m[2]?.split(',') ?? []) {
    const dash = range.indexOf('-');
    const first = Number(range.slice(0, dash));
    const last = Number(range.slice(dash + 1));
    // Sorted, disjoint, not adjacent, above `through + 1`: as Coverage keeps them.
    if (!(first > prev && last >= first && Number.isSafeInteger(last))) return undefined;
    c.above.push([first, last]);
    c.count += last - first + 1;
    prev = last + 1;
  }
  return Number.isSafeInteger(c.through) ? c : undefined;
}

/** A copy of `c` that also holds `events`' sequence numbers (none of them held by `c`). */
export function coverageWith(c: Coverage, events: readonly WireEvent[]): Coverage {
  const next = new Coverage();
  next.through = c.through;
  next.count = c.count;
  next.above = c.above.map(([first, last]) => [first, last]);
  next.add(events.map((e) => e.seq));
  return next;
}

/** One message's body and the events it holds. */
export interface Chunk {
  readonly events: readonly WireEvent[];
  readonly body: Uint8Array;
}

const head = (receivedAt: number) => `{"receivedAt":${receivedAt},"events":[`;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An event as `JSON.stringify([seq, ts, data])` writes it. */
function row(e: WireEvent): string {
  // `ts` is a finite number (parseIngest checks it): its JSON is its string.
  return `[${e.seq},${e.ts},${JSON.stringify(e.data) ?? 'null'}]`;
}

/** UTF-8 length of a string, without encoding it. */
export function utf8Length(s: string): number {
  let bytes = s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: 4 bytes for 2 UTF-16 units.
      bytes += 2;
      i++;
    } else bytes += 2; // 3 bytes (a lone surrogate becomes U+FFFD, 3 bytes too)
  }
  return bytes;
}

/**
 * Encodes `events` as one message body, or as several when the body would
 * exceed `maxBodyBytes`, each as large as fits. Throws a `413`
 * {@link ProtocolError} for an event that fits in no message.
 */
export function encodeChunks(events: readonly WireEvent[], receivedAt: number, maxBodyBytes: number): Chunk[] {
  // The common case: one message, from one JSON.stringify (faster than a
  // string per event). `length` is a lower bound of the UTF-8 size.
  const whole = `{"receivedAt":${receivedAt},"events":${JSON.stringify(events.map((e) => [e.seq, e.ts, e.data]))}}`;
  if (whole.length <= maxBodyBytes) {
    const body = encoder.encode(whole);
    if (body.length <= maxBodyBytes) return [{ events, body }];
  }
  // Too large: one string per event, to cut where the bytes run out.
  const rows = events.map(row);
  const chunks: Chunk[] = [];
  const base = utf8Length(head(receivedAt)) + 2;
  let start = 0;
  let size = base;
  const flush = (end: number) => {
    const body = encoder.encode(`${head(receivedAt)}${rows.slice(start, end).join(',')}]}`);
    chunks.push({ events: events.slice(start, end), body });
    start = end;
    size = base;
  };
  for (let i = 0; i < rows.length; i++) {
    const bytes = utf8Length(rows[i]!);
    if (base + bytes > maxBodyBytes)
      throw new ProtocolError(
        413,
        `event ${events[i]!.seq} takes ${bytes} bytes as JSON, more than one NATS message holds (${maxBodyBytes} bytes after headers); ` +
          "make the event smaller or raise the server's max_payload",
        'events',
      );
    const comma = i > start ? 1 : 0;
    if (size + comma + bytes > maxBodyBytes) {
      flush(i);
      size += bytes;
    } else size += comma + bytes;
  }
  flush(rows.length);
  return chunks;
}

/** Decodes a message body written by {@link encodeChunks}. */
export function decodeBody(clientId: string, body: Uint8Array, streamSeq: number): LoggedEvent[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(body));
  } catch (err) {
    throw new StorageError(`message ${streamSeq} of client ${clientId} is not a Tidemark batch (not JSON)`, { cause: err });
  }
  const p = parsed as { receivedAt?: unknown; events?: unknown } | null;
  if (typeof p?.receivedAt !== 'number' || !Array.isArray(p.events))
    throw new StorageError(`message ${streamSeq} of client ${clientId} is not a Tidemark batch (expected {receivedAt, events})`);
  const receivedAt = p.receivedAt;
  return p.events.map((r: [number, number, unknown]) => ({ clientId, seq: r[0], ts: r[1], receivedAt, data: r[2] }));
}
