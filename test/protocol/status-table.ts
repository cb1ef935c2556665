// The one table of answers every client of the protocol is checked against:
// src/protocol/client.ts itself, the browser runtime's uploader and the
// edge's forwarder. docs/protocol.md states the same table.
import type { Decision } from '../../src/protocol/client.js';

export interface StatusRow {
  /** The HTTP status; 0 is no answer (fetch throws). */
  readonly status: number;
  readonly decision: Decision;
  /** The client asks for a new token. */
  readonly newToken: boolean;
}

const row = (status: number, decision: Decision, newToken = false): StatusRow => ({ status, decision, newToken });

export const STATUS_TABLE: readonly StatusRow[] = [
  row(200, 'delivered'),
  row(204, 'delivered'),
  row(0, 'retry'),
  row(408, 'retry'),
  row(425, 'retry'),
  row(429, 'retry'),
  row(500, 'retry'),
  row(501, 'retry'),
  row(502, 'retry'),
  row(503, 'retry'),
  row(504, 'retry'),
  row(507, 'retry'),
  row(511, 'retry'),
  row(401, 'pause', true),
  row(403, 'pause', true),
  row(404, 'pause'),
  row(405, 'pause'),
  row(410, 'pause'),
  row(400, 'refuse'),
  row(409, 'refuse'),
  row(413, 'refuse'),
  row(415, 'refuse'),
  row(422, 'refuse'),
  row(451, 'refuse'),
  row(302, 'pause'),
  row(304, 'pause'),
];

/** The time the answers below arrive: 2025-01-01T00:00:00Z. */
export const NOW = Date.UTC(2025, 0, 1);

export interface RetryAfterRow {
  readonly header: string | null;
  /** Milliseconds to wait at least; undefined: the header says nothing usable. */
  readonly ms: number | undefined;
}

export const RETRY_AFTER_TABLE: readonly RetryAfterRow[] = [
  { header: null, ms: undefined },
  { header: '', ms: undefined },
  { header: '0', ms: 0 },
  { header: '7', ms: 7_000 },
  { header: '120', ms: 120_000 },
  { header: '86400', ms: 3_600_000 }, // capped at an hour
  { header: '99999999999999999999999', ms: 3_600_000 },
  { header: 'Wed, 01 Jan 2025 00:00:30 GMT', ms: 30_000 }, // IMF-fixdate
  { header: 'Wednesday, 01-Jan-25 00:00:30 GMT', ms: 30_000 }, // RFC 850
  { header: 'Wed Jan  1 00:00:30 2025', ms: 30_000 }, // asctime
  { header: 'Tue, 31 Dec 2024 23:59:00 GMT', ms: 0 }, // in the past: now
  { header: 'Fri, 01 Jan 2100 00:00:00 GMT', ms: 3_600_000 },
  { header: '1.5', ms: undefined },
  { header: '-1', ms: undefined },
  { header: '0x10', ms: undefined },
  { header: 'soon', ms: undefined },
  { header: '7 seconds', ms: undefined },
  { header: 'Wed, 31 Feb 2025 00:00:00 GMT', ms: undefined }, // no such day
  { header: 'Wed, 01 Jan 2025 00:00:30 UTC', ms: undefined },
  { header: '2025-01-01T00:00:30Z', ms: undefined }, // ISO 8601 is not an HTTP date
];
