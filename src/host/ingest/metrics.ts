/**
 * The server's counters, rendered as Prometheus text for `GET /metrics`.
 *
 * @internal
 * @module
 */
import type { WireEvent } from '../../protocol/wire.js';
import type { AppendOutcome, EventLog } from './log.js';

/** At most this many clients get their own series (the most lagging first): bounded cardinality. */
const MAX_CLIENT_SERIES = 100;

export function createMetrics(log: EventLog) {
  let appended = 0;
  let duplicates = 0;
  let untimed = 0;
  const statuses = new Map<number, number>();
  /** Per client: seconds between the newest event time of its last batch and its arrival. */
  const lag = new Map<string, number>();

  return {
    ingested(clientId: string, events: readonly WireEvent[], out: AppendOutcome, receivedAt: number): void {
      appended += out.appended;
      duplicates += out.duplicates;
      let newest = -Infinity;
      for (const e of events) {
        if (e.ts === null) untimed++;
        else if (e.ts > newest) newest = e.ts;
      }
      if (newest > -Infinity) {
        lag.delete(clientId); // re-insert: most recent last
        lag.set(clientId, (receivedAt - newest) / 1000);
        if (lag.size > 10_000) lag.delete(lag.keys().next().value as string);
      }
    },
    answered(status: number): void {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    },
    text(): string {
      const s = log.stats();
      const lines = [
        '# HELP tidemark_events_appended_total Events appended to the log.',
        '# TYPE tidemark_events_appended_total counter',
        `tidemark_events_appended_total ${appended}`,
        '# HELP tidemark_events_duplicate_total Events received again (replays), acknowledged and not appended.',
        '# TYPE tidemark_events_duplicate_total counter',
        `tidemark_events_duplicate_total ${duplicates}`,
        '# HELP tidemark_events_untimed_total Events received whose time the client pipeline could not read (ts null): kept, not stamped.',
        '# TYPE tidemark_events_untimed_total counter',
        `tidemark_events_untimed_total ${untimed}`,
        '# HELP tidemark_requests_total Requests answered, by status.',
        '# TYPE tidemark_requests_total counter',
        ...[...statuses].sort((a, b) => a[0] - b[0]).map(([code, n]) => `tidemark_requests_total{status="${code}"} ${n}`),
        '# HELP tidemark_log_events Events held in the log.',
        '# TYPE tidemark_log_events gauge',
        `tidemark_log_events ${s.events}`,
        '# HELP tidemark_log_bytes Bytes the log uses.',
        '# TYPE tidemark_log_bytes gauge',
        `tidemark_log_bytes ${s.bytes}`,
        '# HELP tidemark_log_clients Clients with events in the log.',
        '# TYPE tidemark_log_clients gauge',
        `tidemark_log_clients ${s.clients}`,
        '# HELP tidemark_client_lag_seconds Per client: arrival time minus the newest event time of its last batch (offline time shows here).',
        '# TYPE tidemark_client_lag_seconds gauge',
        ...[...lag]
          .sort((a, b) => b[1] - a[1])
          .slice(0, MAX_CLIENT_SERIES)
          .map(([id, l]) => `tidemark_client_lag_seconds{client="${id}"} ${l}`),
        '# HELP tidemark_client_missing_events Per client: sequence numbers missing below the highest received (gaps).',
        '# TYPE tidemark_client_missing_events gauge',
        ...log
          .clients()
          .filter((c) => c.missing > 0)
          .sort((a, b) => b.missing - a.missing)
          .slice(0, MAX_CLIENT_SERIES)
          .map((c) => `tidemark_client_missing_events{client="${c.clientId}"} ${c.missing}`),
      ];
      return `${lines.join('\n')}\n`;
    },
  };
}
