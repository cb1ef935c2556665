/**
 * The uploader: drains the outbox to the server's ingest endpoint, uploads
 * the speed layer's final results, and pulls corrections. Runs in the
 * leading tab's worker only. The only file of the worker that calls `fetch`.
 *
 * Delivery is at-least-once; the server's ingest is idempotent by
 * `(clientId, seq)`, so the pair is exactly-once. The acknowledged position
 * only moves forward, after a `200`. What each answer means, and how long
 * to wait after it, is the protocol's client policy (`src/protocol/client.ts`,
 * `docs/protocol.md`), shared with the edge's forwarder. Time comes from an
 * injected {@link Clock}, online state from an injected {@link OnlineState}.
 *
 * @internal
 * @module
 */
import { errorParts } from '../errors.js';
import { OnlineState } from '../host/online.js';
import { type Answer, backoffDelay, wantsNewToken } from '../protocol/client.js';
import { exchange } from '../protocol/exchange.js';
import type { IngestResponse, WireEvent, WireResult } from '../protocol/wire.js';
import { LIMITS, PATHS } from '../protocol/wire.js';
import { type Clock, sleep, systemClock } from '../time/clock.js';
import type { UploadStatus } from './contract.js';
import { pullCorrections } from './corrections-pull.js';
import type { DeadLetter, RuntimeStore, StoredCorrections } from './outbox-store.js';
import { type BatchSource, nextBatch } from './upload-batch.js';

/** What the uploader needs from the outbox store. */
export type UploadStore = Pick<
  RuntimeStore,
  'readHolding' | 'acked' | 'ack' | 'deadLetter' | 'deadLetters' | 'loadCorrections' | 'saveCorrections'
>;

/** Tuning of the uploader (see `ServeRuntimeOptions.upload`). */
export interface UploadSettings {
  readonly maxBatchBytes: number;
  readonly minBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly requestTimeoutMs: number;
  readonly correctionsEveryMs: number;
}

export interface UploaderDeps extends BatchSource {
  readonly store: UploadStore;
  readonly settings: UploadSettings;
  /** The final results (on-time and late panes) to upload, changed since the last call that was acknowledged. */
  readonly results: () => { readonly pending: readonly WireResult[]; readonly sent: () => void };
  /** The pipeline's event-time watermark now, sent with each request (the batch layer's finality rule). */
  readonly watermark?: () => number;
  readonly onStatus: (status: UploadStatus) => void;
  readonly onCorrections: (corrections: StoredCorrections) => void;
  /**
   * The server refused the token (`401`, `403`): ask for a new one. It ends
   * the pause only if it differs from the refused one ({@link Uploader.connect}).
   */
  readonly onUnauthorized: () => void;
  readonly report: (err: unknown) => void;
  readonly fetch?: typeof fetch;
  /** Time and timers (default {@link systemClock}). */
  readonly clock?: Clock;
  /** Uniform in `[0, 1)`, for the backoff's jitter (default `Math.random`). */
  readonly random?: () => number;
  /** Whether uploads may go out (default: `navigator.onLine`, asked on every read). */
  readonly network?: OnlineState;
}

export interface Uploader {
  /**
   * Sets (or changes) the endpoint and token, and starts uploading. A change
   * ends any wait at once (with a fresh backoff); the same endpoint and token
   * again change nothing, so a page answering a token request with the token
   * just refused does not make the uploader try again before its backoff.
   */
  connect(endpoint: string, token: string): void;
  /** New events or results may be waiting. */
  wake(): void;
  /** Best effort before the page goes away: one `keepalive` request (under 64 KiB) with the oldest unacknowledged events, which the outbox keeps. */
  flushOnExit(): Promise<void>;
  stop(): void;
}

/** Where to upload, and as whom. */
type Connection = { readonly endpoint: string; readonly token: string };

export function createUploader(deps: UploaderDeps): Uploader {
  const { store, settings } = deps;
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const network = deps.network ?? new OnlineState(() => globalThis.navigator?.onLine ?? true);
  const doFetch = deps.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  let connection: Connection | undefined;
  let stopped = false;
  let running = false;
  /** Failed attempts in a row. */
  let attempt = 0;
  /** Largest number of events the next request may carry (halved to isolate a refused event). */
  let limitEvents: number = LIMITS.maxEventsPerRequest;
  let lastCorrections = Number.NEGATIVE_INFINITY;
  /** `wake()` came since the loop last read the outbox: no idle wait before reading it again. */
  let wanted = false;
  let restart: (() => void) | undefined;
  let status: UploadStatus = initialUploadStatus('idle');
  const set = (patch: Partial<UploadStatus>) => {
    status = { ...status, ...patch };
    deps.onStatus(status);
  };

  /** The current wait, which `rouse()` ends early. */
  let napping: AbortController | undefined;
  const nap = async (ms: number) => {
    const current = (napping = new AbortController());
    await sleep(clock, ms, current.signal);
    if (napping === current) napping = undefined;
  };
  const rouse = () => napping?.abort();

  // Requests under way, aborted when the network goes away: a request cut off mid-flight often never
  // fails by itself, and would hold the upload until its timeout. The server deduplicates what it got.
  const inflight = new Set<AbortController>();
  const unsubscribe = network.subscribe((online) => {
    if (!online) for (const request of inflight) request.abort(new DOMException('the network went away', 'AbortError'));
    else {
      attempt = 0;
      lastCorrections = Number.NEGATIVE_INFINITY;
      if (status.state !== 'paused') rouse(); // the network does not fix a token or a URL
    }
  });

  async function request(to: Connection, method: 'GET' | 'POST', path: string, body?: string, keepalive = false): Promise<Answer> {
    const url = new URL(path, to.endpoint.endsWith('/') ? to.endpoint : `${to.endpoint}/`);
    const cut = new AbortController();
    if (!keepalive) inflight.add(cut); // the page is going away: nothing would retry it
    const headers = { authorization: `Bearer ${to.token}`, ...(body ? { 'content-type': 'application/json' } : {}) };
    const init = { method, headers, keepalive, ...(body === undefined ? {} : { body }) };
    const answer = await exchange(url, init, { fetch: doFetch, clock, timeoutMs: settings.requestTimeoutMs, signal: cut.signal });
    inflight.delete(cut);
    return answer;
  }

  /** One ingest request: `more` or `idle` when answered `2xx` or refused for good, else the answer to back off from. */
  async function upload(to: Connection): Promise<'more' | 'idle' | Answer> {
    wanted = false;
    // Read from storage when the loop starts; only this uploader moves it since.
    const acked = status.acked;
    const { events, body } = await nextBatch(deps, acked, settings.maxBatchBytes, limitEvents);
    const results = deps.results();
    const sending = results.pending.slice(0, LIMITS.maxResultsPerRequest);
    // Results ride along while there is room; on their own otherwise.
    let resultsJson = sending.length > 0 ? JSON.stringify(sending) : undefined;
    if (resultsJson && events.length > 0 && body.lengthWithResults(resultsJson) > settings.maxBatchBytes) resultsJson = undefined;
    if (events.length === 0 && !resultsJson) return 'idle';
    set({ state: 'uploading' });
    const answer = await request(to, 'POST', PATHS.ingest, body.encode(resultsJson, deps.watermark?.()));
    if (answer.decision === 'delivered') {
      const ack = answer.body as IngestResponse;
      attempt = 0;
      limitEvents = LIMITS.maxEventsPerRequest;
      // Everything this request carried is durable on the server (appended now
      // or held already), whatever its ackedThrough says about older gaps.
      const through = events.length > 0 ? events[events.length - 1]!.seq : acked;
      if (through > acked) await store.ack(through);
      if (resultsJson) results.sent();
      let untimed = 0;
      for (const e of events) if (e.ts === null) untimed++;
      set({ acked: through, lastError: null, nextAttemptAt: null, serverAckedThrough: ack?.ackedThrough, untimed: status.untimed + untimed });
      return 'more';
    }
    if (answer.decision !== 'refuse') return answer;
    await refused(answer, events, acked, resultsJson && events.length === 0 ? results : undefined);
    return 'more';
  }

  /** Refused for good (400, 413, 422, …): halve until the one event to blame is alone, keep it as a dead letter; the rest goes on. */
  async function refused(answer: Answer, events: readonly WireEvent[], acked: number, resultsOnly: { sent: () => void } | undefined) {
    const { status: code, message } = answer;
    if (resultsOnly) {
      deps.report(new Error(`the server refused uploaded results (${code}: ${message}); they are not sent again`));
      resultsOnly.sent();
      return;
    }
    if (events.length > 1) {
      limitEvents = Math.ceil(events.length / 2);
      return;
    }
    const e = events[0]!;
    const letter: DeadLetter = { seq: e.seq, ts: e.ts, data: e.data, status: code, reason: message, at: clock.now() };
    await store.deadLetter([letter]);
    deps.report(new Error(`the server refused event ${e.seq} for good (${code}: ${message}); it is kept as a dead letter`));
    const { count } = await store.deadLetters();
    set({ acked: Math.max(acked, e.seq), deadLetters: count, lastDeadLetter: letter });
  }

  /**
   * Waits as the policy says after an answer to retry or pause on, made with
   * `used`. After `401`/`403` asks for a new token; a different endpoint or
   * token (given meanwhile or during the wait) ends the wait at once.
   */
  async function backOff(answer: Answer, used: Connection): Promise<void> {
    const pause = answer.decision !== 'retry';
    if (pause && wantsNewToken(answer.status)) deps.onUnauthorized();
    if (connection !== used) return; // changed since the request went out (or just now, by onUnauthorized)
    const wait = backoffDelay(pause ? 'pause' : 'retry', attempt, settings, random, answer.retryAfterMs);
    attempt = Math.min(attempt + 1, 30);
    set({
      state: answer.status === 0 && !network.online ? 'offline' : pause ? 'paused' : 'backoff',
      lastError: answer.status === 0 ? answer.message : `${answer.status}: ${answer.message}`,
      nextAttemptAt: clock.now() + wait,
    });
    await nap(wait);
  }

  /** Pulls corrections after the stored cursor, keeps them, and says so: the corrections, or an answer to pause on. */
  async function corrections(to: Connection, current: StoredCorrections): Promise<StoredCorrections | Answer> {
    const { corrections: pulled, changed, failed } = await pullCorrections((path) => request(to, 'GET', path), deps.clientId, current);
    // A wrong token or URL pauses as an upload would; anything else waits for the next round.
    if (failed?.decision === 'pause') return failed;
    if (failed) set({ lastError: `corrections: ${failed.status}: ${failed.message}` });
    if (changed) {
      await store.saveCorrections(pulled);
      deps.onCorrections(pulled);
    }
    set({ correctionsCursor: pulled.cursor });
    return pulled;
  }

  async function loop(): Promise<void> {
    if (running) return;
    running = true;
    try {
      const dead = await store.deadLetters();
      set({ acked: await store.acked(), deadLetters: dead.count, lastDeadLetter: dead.latest ?? null });
      let stored = (await store.loadCorrections()) ?? { cursor: 0, entries: [] };
      if (stored.entries.length > 0) deps.onCorrections(stored);
      while (!stopped && connection) {
        const to = connection;
        if (!network.online) {
          set({ state: 'offline', nextAttemptAt: null });
          // Until the network comes back (the OnlineState says so); the probe is asked again each round.
          await nap(settings.maxBackoffMs);
          continue;
        }
        const next = await upload(to);
        if (stopped) break;
        if (typeof next === 'object') await backOff(next, to);
        else if (next === 'idle') {
          if (clock.now() - lastCorrections >= settings.correctionsEveryMs) {
            lastCorrections = clock.now();
            const pulled = await corrections(to, stored);
            if ('decision' in pulled) await backOff(pulled, to);
            else stored = pulled;
            continue;
          }
          if (wanted) continue;
          set({ state: 'idle', nextAttemptAt: null });
          await nap(Math.max(10, settings.correctionsEveryMs - (clock.now() - lastCorrections)));
        }
      }
    } catch (err) {
      // Storage failed under the uploader: say so, and start over after a while.
      deps.report(err);
      set({ state: 'backoff', lastError: errorParts(err).message, nextAttemptAt: clock.now() + settings.maxBackoffMs });
      running = false;
      if (!stopped) restart = clock.timeout(() => void loop(), settings.maxBackoffMs);
      return;
    }
    running = false;
  }

  return {
    connect(endpoint, token) {
      if (endpoint !== connection?.endpoint || token !== connection.token) {
        connection = { endpoint, token };
        attempt = 0;
        rouse();
      }
      void loop();
    },
    wake() {
      wanted = true;
      if (status.state === 'idle') rouse();
    },
    async flushOnExit() {
      const to = connection;
      if (!to || !network.online) return;
      const { body } = await nextBatch(deps, status.acked, LIMITS.keepaliveBytes - 256, LIMITS.maxEventsPerRequest);
      if (body.events === 0) return;
      // Not awaited past the send: the page is going away. The outbox keeps
      // these events until an acknowledgement moves `acked`.
      void request(to, 'POST', PATHS.ingest, body.encode(undefined, deps.watermark?.()), true);
    },
    stop() {
      stopped = true;
      restart?.();
      unsubscribe();
      rouse();
    },
  };
}

/** The status before anything happened, in `state`. */
export function initialUploadStatus(state: UploadStatus['state']): UploadStatus {
  return { state, acked: 0, deadLetters: 0, lastDeadLetter: null, lastError: null, nextAttemptAt: null, correctionsCursor: 0, untimed: 0 };
}
