/**
 * `globalView`: the server's view across all clients as an Observable, for
 * dashboards. Follows `GET /v1/views/stream` (Server-Sent Events over
 * `fetch`, so the token travels in a header), applies its resets and
 * changes, and reconnects with `Last-Event-ID` after a drop, with
 * full-jitter backoff: every change once, none missed.
 *
 * @module
 */
import { Observable } from 'rxjs';
import { InvalidOptionError, ProtocolError } from '../errors.js';
import { optionalFunction, rejectUnknown, requireObject } from '../options.js';
import { type BackoffPolicy, backoffDelay, classifyStatus, parseRetryAfter, wantsNewToken } from '../protocol/client.js';
import type { ViewChange, ViewReset, ViewRow } from '../protocol/wire.js';
import { type Clock, systemClock } from '../time/clock.js';
import { compareWindows, windowId } from '../windows/identity.js';

/** Options of {@link globalView}. */
export interface GlobalViewOptions {
  /** The server's base URL, e.g. `https://events.example.com` (the stream is `${url}/v1/views/stream`). */
  readonly url: string;
  /** A reader token (`npx tidemark token --reader <name>`), or a client token where the server allows it (with `clientId`). */
  readonly token: string;
  /** The client a client token belongs to (only with a client token). */
  readonly clientId?: string;
  /** Windows overlapping `[from, to)`, of `key`: the server filters before sending. */
  readonly from?: number;
  readonly to?: number;
  readonly key?: string;
  /** Reconnection backoff (defaults 500 ms and 30 s): full jitter, reset once a connection delivers. */
  readonly backoff?: BackoffPolicy;
  /** Time for the backoff waits (default the system's). */
  readonly clock?: Clock;
  /** The `fetch` to use (default the global one). */
  readonly fetch?: typeof fetch;
  /** Uniform random numbers in `[0, 1)` for the jitter (default `Math.random`). */
  readonly random?: () => number;
}

/** What {@link globalView} emits: the whole view after each batch of changes, and the connection's state. */
export interface GlobalViewUpdate {
  /** Every row, sorted by key then start. */
  readonly rows: readonly ViewRow[];
  /** The changes this update applied (empty after a reset or a state change). */
  readonly changes: readonly ViewChange[];
  /** `true` when the rows were replaced whole (the first connection, or a resume the server could not serve). */
  readonly reset: boolean;
  /** The id of the last change applied (`undefined` before the first reset). */
  readonly lastEventId: number | undefined;
  /** `'live'` while connected; `'retrying'` while waiting to reconnect (see `retryInMs`). */
  readonly state: 'connecting' | 'live' | 'retrying';
  readonly retryInMs?: number;
}

const KNOWN = ['url', 'token', 'clientId', 'from', 'to', 'key', 'backoff', 'clock', 'fetch', 'random'] as const;

/**
 * The server's view across all clients (`GET /v1/views/stream` of
 * `tidemark serve --pipeline`): the global speed layer's windows, corrected
 * by the batch layer, each row `{ key, start, end, value, source, final, version }`.
 * Emits the whole view after the first reset and after each batch of
 * changes. When the connection drops it reconnects with `Last-Event-ID` and
 * gets exactly the changes it missed; the wait before each attempt is a
 * full-jitter backoff (and at least the server's `Retry-After`). A refusal
 * that retrying cannot fix (`400` for a bad filter, `401`/`403` for the
 * token) errors the Observable with a `ProtocolError` (from `tidemark/protocol`) whose `status` and message say why.
 * Unsubscribing closes the connection.
 *
 * @param options - see {@link GlobalViewOptions}
 * @throws {@link InvalidOptionError} at call time for a missing `url` or `token`
 * @example
 * ```ts
 * import { globalView } from 'tidemark/browser';
 * const subscription = globalView({ url: 'http://127.0.0.1:8787', token: 'wallboard:…' })
 *   .subscribe(({ rows, state }) => console.log(state, rows.length));
 * subscription.unsubscribe();
 * ```
 */
export function globalView(options: GlobalViewOptions): Observable<GlobalViewUpdate> {
  requireObject('globalView', options);
  rejectUnknown('globalView', options, KNOWN);
  if (typeof options.url !== 'string' || !/^https?:\/\//.test(options.url))
    throw new InvalidOptionError('globalView.url', "must be the server's base URL, e.g. 'https://events.example.com'");
  if (typeof options.token !== 'string' || options.token.length === 0)
    throw new InvalidOptionError('globalView.token', 'must be a reader token: print one with `npx tidemark token --reader <name>`');
  optionalFunction('globalView.fetch', options.fetch);
  const query = new URLSearchParams();
  for (const name of ['clientId', 'from', 'to', 'key'] as const) if (options[name] !== undefined) query.set(name, String(options[name]));
  const target = `${options.url.replace(/\/+$/, '')}/v1/views/stream${query.size > 0 ? `?${query}` : ''}`;
  const policy = options.backoff ?? { minBackoffMs: 500, maxBackoffMs: 30_000 };
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;

  return new Observable<GlobalViewUpdate>((subscriber) => {
    const rows = new Map<string, ViewRow>();
    let lastEventId: number | undefined;
    let attempt = 0;
    let aborter: AbortController | undefined;
    let cancelWait: (() => void) | undefined;
    let stopped = false;
    const emit = (changes: ViewChange[], reset: boolean, state: GlobalViewUpdate['state'], retryInMs?: number) =>
      subscriber.next({
        rows: [...rows.values()].sort(compareWindows),
        changes,
        reset,
        lastEventId,
        state,
        ...(retryInMs !== undefined ? { retryInMs } : {}),
      });

    const retry = (decision: 'retry' | 'pause', retryAfterMs = 0) => {
      if (stopped) return;
      const wait = backoffDelay(decision, attempt++, policy, random, retryAfterMs);
      emit([], false, 'retrying', wait);
      cancelWait = clock.timeout(() => void connect(), wait);
    };

    const connect = async (): Promise<void> => {
      if (stopped) return;
      aborter = new AbortController();
      const headers: Record<string, string> = { authorization: `Bearer ${options.token}` };
      if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
      let res: Response;
      try {
        res = await (options.fetch ?? fetch)(target, { headers, signal: aborter.signal });
      } catch {
        return retry('retry'); // offline, refused, reset: the network, not the server
      }
      if (res.status !== 200) {
        const decision = classifyStatus(res.status);
        const body = (await res.json().catch(() => undefined)) as { error?: { message?: string } } | undefined;
        const why = body?.error?.message ?? `HTTP ${res.status}`;
        if (decision === 'refuse' || wantsNewToken(res.status))
          return subscriber.error(new ProtocolError(res.status, `GET /v1/views/stream: ${why}`));
        return retry(decision === 'retry' ? 'retry' : 'pause', parseRetryAfter(res.headers.get('retry-after'), clock.now()) ?? 0);
      }
      try {
        await read(res);
      } catch {
        // the connection dropped mid-stream
      }
      if (!stopped) retry('retry');
    };

    const read = async (res: Response): Promise<void> => {
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let buf = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done || stopped) return;
        buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
        const changes: ViewChange[] = [];
        let reset = false;
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          let event = 'message';
          let data = '';
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data += (data ? '\n' : '') + line.slice(5).replace(/^ /, '');
          }
          if (event === 'reset') {
            const r = JSON.parse(data) as ViewReset;
            rows.clear();
            for (const row of r.rows) rows.set(windowId(row), row);
            lastEventId = r.lastEventId;
            reset = true;
            changes.length = 0;
          } else if (event === 'change') {
            const c = JSON.parse(data) as ViewChange;
            if (lastEventId !== undefined && c.id <= lastEventId) continue;
            if (c.op === 'delete') rows.delete(windowId(c.row));
            else rows.set(windowId(c.row), c.row);
            lastEventId = c.id;
            changes.push(c);
          }
        }
        if (reset || changes.length > 0 || attempt > 0) {
          attempt = 0; // this connection delivers: the next drop starts the backoff over
          emit(changes, reset, 'live');
        }
      }
    };

    emit([], false, 'connecting');
    void connect();
    return () => {
      stopped = true;
      cancelWait?.();
      aborter?.abort();
    };
  });
}
