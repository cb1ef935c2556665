/**
 * The outbox as ingest bodies: the events after the acknowledged position,
 * each serialised once into an {@link IngestBody}, up to a budget. A part of
 * the uploader.
 *
 * @internal
 * @module
 */
import { encodeEvent, IngestBody } from '../protocol/client.js';
import type { WireEvent, WireResult } from '../protocol/wire.js';
import type { OutboxRecord, RuntimeStore } from './outbox-store.js';

/** Where the events come from, and how they look on the wire. */
export interface BatchSource {
  readonly store: Pick<RuntimeStore, 'readHolding'>;
  readonly clientId: string;
  /** The events of a record, as the pipeline sees them. */
  readonly decode: (record: OutboxRecord) => readonly unknown[];
  /** An event's time for the server log, as the pipeline reads it; `null` when it cannot. */
  readonly timestamp: (event: unknown) => number | null;
}

/**
 * What the server is told of a fired result, or `undefined` for nothing: a
 * final row (on-time or late) as a {@link WireResult}; early rows never
 * (the batch layer corrects final windows only). Of a changelog
 * (`windowBy({ changelog: true })`), an `update-before` is nothing (its
 * `update-after` follows), and a `delete` of a final row is sent with
 * `kind: 'delete'`: the server may hold that row.
 */
export function finalWireResult(result: unknown): WireResult | undefined {
  const r = result as (Partial<Omit<WireResult, 'kind'>> & { timing?: unknown; kind?: unknown }) | null;
  if (typeof r !== 'object' || r === null || r.timing === 'early' || typeof r.start !== 'number') return undefined;
  if (r.kind === 'update-before') return undefined;
  const row = { key: r.key, start: r.start, end: r.end, value: r.value, pane: r.pane } as WireResult;
  return r.kind === 'delete' ? { ...row, kind: 'delete' } : row;
}

/**
 * The wire time of an event: what `read` (the app's `timestamp` option, or
 * the pipeline's own event time) answers when it is a finite number, else
 * `null`. Never a guess from field names, never the time of the append.
 */
export function wireTime(read: ((event: unknown) => number) | undefined): (event: unknown) => number | null {
  return (event) => {
    if (!read) return null;
    try {
      const t = read(event);
      return typeof t === 'number' && Number.isFinite(t) ? t : null;
    } catch {
      return null;
    }
  };
}

/**
 * The next ingest body after `acked`: at most `maxChars` characters and
 * `maxEvents` events, but at least one event when any is waiting (an event
 * over the budget goes alone: the server says whether it takes it).
 */
export async function nextBatch(source: BatchSource, acked: number, maxChars: number, maxEvents: number) {
  const body = new IngestBody(source.clientId);
  const events: WireEvent[] = [];
  let from = acked;
  outer: for (;;) {
    const records = await source.store.readHolding(from, 16);
    if (records.length === 0) break;
    for (const r of records) {
      const decoded = source.decode(r);
      for (let i = 0; i < decoded.length; i++) {
        const seq = r.seq + i;
        if (seq <= acked) continue;
        const data = decoded[i];
        const event: WireEvent = { seq, ts: source.timestamp(data), data };
        const part = encodeEvent(event);
        if (events.length > 0 && (body.lengthWith(part) > maxChars || events.length >= maxEvents)) break outer;
        events.push(event);
        body.add(part, 1);
      }
      from = r.last;
    }
  }
  return { events, body };
}
