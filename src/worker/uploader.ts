/**
 * The uploader: drains the outbox to the server's ingest endpoint, uploads
 * the speed layer's final results, and pulls corrections. Runs in the
 * leading tab's worker only. The only file of the worker that calls `fetch`.
 *
 * Delivery is at-least-once; the server's ingest is idempotent by
 * `(clientId, seq)`, so the pair is exactly-once. The acknowledged position
 * only moves forward, after a `200`.
 *
 * @internal
 * @module
 */
import { errorParts } from '../errors.js';
import type { Correction, CorrectionsResponse, IngestResponse, WireEvent, WireResult } from '../protocol/wire.js';
import { LIMITS, PATHS } from '../protocol/wire.js';
import type { UploadStatus } from './contract.js';
import type { DeadLetter, OutboxRecord, RuntimeStore, StoredCorrections } from './outbox-store.js';
import { windowId } from '../windows/identity.js';

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

export interface UploaderDeps {
  readonly store: UploadStore;
  readonly clientId: string;
  readonly settings: UploadSettings;
  /** The events of a record, as the pipeline sees them. */
  readonly decode: (record: OutboxRecord) => readonly unknown[];
  /** An event's time for the server log. */
  readonly timestamp: (event: unknown, record: OutboxRecord) => number;
  /** The final results (on-time and late panes) to upload, changed since the last call that was acknowledged. */
  readonly results: () => { readonly pending: readonly WireResult[]; readonly sent: () => void };
  readonly onStatus: (status: UploadStatus) => void;
  readonly onCorrections: (corrections: StoredCorrections) => void;
  /** The page's token went stale (`401`): ask for a new one. */
  readonly onUnauthorized: () => void;
  readonly report: (err: unknown) => void;
  readonly fetch?: typeof fetch;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly online?: () => boolean;
}

export interface Uploader {
  /** Sets (or changes) the endpoint and token, and starts uploading. */
  connect(endpoint: string, token: string): void;
  /** New events or results may be waiting. */
  wake(): void;
  /** The network came back or went away. */
  setOnline(online: boolean): void;
  /**
   * Best effort before the page goes away: one `keepalive` request with the
   * oldest unacknowledged events, under 64 KiB. The outbox keeps them until
   * a later acknowledgement.
   */
  flushOnExit(): Promise<void>;
  stop(): void;
}

type Answer = { ok: true; body: unknown } | { ok: false; status: number; retryAfterMs?: number; message: string };

/** Statuses that mean "try again later"; 0 is a network error or a timeout. */
const RETRYABLE = new Set([0, 408, 425, 429, 500, 502, 503, 504]);
/** Statuses that mean the configuration is wrong (token, endpoint): pause, never dead-letter. */
const MISCONFIGURED = new Set([401, 403, 404, 405]);

export function createUploader(deps: UploaderDeps): Uploader {
  const { store, settings } = deps;
  const now = deps.now ?? Date.now;
  const random = deps.random ?? Math.random;
  const doFetch = deps.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  let endpoint: string | undefined;
  let token: string | undefined;
  let online = deps.online?.() ?? true;
  let stopped = false;
  let running = false;
  let wakeUp: (() => void) | undefined;
  let attempt = 0;
  /** Largest number of events the next request may carry (halved to isolate a refused event). */
  let limitEvents: number = LIMITS.maxEventsPerRequest;
  let lastCorrections = Number.NEGATIVE_INFINITY;
  let status: UploadStatus = initialUploadStatus('idle');
  const set = (patch: Partial<UploadStatus>) => {
    status = { ...status, ...patch };
    deps.onStatus(status);
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wakeUp = undefined;
        resolve();
      }
      wakeUp = done;
    });

  /**
   * Requests under way, aborted when the network goes away: a request cut
   * off mid-flight often never fails by itself, and would hold the upload
   * until its timeout. The server deduplicates whatever it had received.
   */
  const inflight = new Set<AbortController>();

  async function request(method: 'GET' | 'POST', path: string, body?: string, keepalive = false): Promise<Answer> {
    const url = new URL(path, endpoint!.endsWith('/') ? endpoint : `${endpoint}/`);
    const cut = new AbortController();
    if (!keepalive) inflight.add(cut); // the page is going away: nothing would retry it
    try {
      const res = await doFetch(url, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body === undefined ? {} : { body }),
        keepalive,
        signal: AbortSignal.any([cut.signal, AbortSignal.timeout(settings.requestTimeoutMs)]),
      });
      const text = await res.text();
      if (res.ok) return { ok: true, body: text ? JSON.parse(text) : null };
      let message = `${res.status} ${res.statusText}`;
      try {
        message = (JSON.parse(text) as { error: { message: string } }).error.message ?? message;
      } catch {
        // Not a Tidemark error body (a proxy's page): keep the status line.
      }
      return { ok: false, status: res.status, message, ...retryAfter(res.headers.get('retry-after'), now()) };
    } catch (err) {
      const { name, message } = errorParts(err);
      return { ok: false, status: 0, message: `${name}: ${message}` };
    } finally {
      inflight.delete(cut);
    }
  }

  /** Builds the next ingest body from the outbox after `acked`: at most `maxBatchBytes`. */
  async function nextBatch(acked: number, maxBytes: number, maxEvents: number) {
    const events: WireEvent[] = [];
    const parts: string[] = [];
    let bytes = 64;
    let from = acked;
    outer: for (;;) {
      const records = await store.readHolding(from, 16);
      if (records.length === 0) break;
      for (const r of records) {
        const decoded = deps.decode(r);
        for (let i = 0; i < decoded.length; i++) {
          const seq = r.seq + i;
          if (seq <= acked) continue;
          const data = decoded[i];
          const event: WireEvent = { seq, ts: deps.timestamp(data, r), data };
          const text = JSON.stringify(event);
          if (events.length > 0 && (bytes + text.length + 1 > maxBytes || events.length >= maxEvents)) break outer;
          events.push(event);
          parts.push(text);
          bytes += text.length + 1;
        }
        from = r.last;
      }
    }
    return { events, parts, bytes };
  }

  async function upload(): Promise<'more' | 'idle'> {
    // Read from storage when the loop starts; only this uploader moves it since.
    const acked = status.acked;
    const { events, parts, bytes } = await nextBatch(acked, settings.maxBatchBytes, limitEvents);
    const results = deps.results();
    const sending = results.pending.slice(0, LIMITS.maxResultsPerRequest);
    let resultText = '';
    if (sending.length > 0) {
      resultText = `,"results":${JSON.stringify(sending)}`;
      // Results ride along while there is room; on their own otherwise.
      if (events.length > 0 && bytes + resultText.length > settings.maxBatchBytes) resultText = '';
    }
    if (events.length === 0 && !resultText) return 'idle';
    set({ state: 'uploading' });
    const body = `{"clientId":${JSON.stringify(deps.clientId)},"events":[${parts.join(',')}]${resultText}}`;
    const answer = await request('POST', PATHS.ingest, body);
    if (answer.ok) {
      const ack = answer.body as IngestResponse;
      attempt = 0;
      limitEvents = LIMITS.maxEventsPerRequest;
      // Everything this request carried is durable on the server (appended now
      // or held already), whatever its ackedThrough says about older gaps.
      const through = events.length > 0 ? events[events.length - 1]!.seq : acked;
      if (through > acked) await store.ack(through);
      if (resultText) results.sent();
      set({ acked: through, lastError: null, nextAttemptAt: null, serverAckedThrough: ack.ackedThrough });
      return 'more';
    }
    return refused(answer, events, acked, resultText !== '' && events.length === 0 ? results : undefined);
  }

  async function refused(
    answer: Extract<Answer, { ok: false }>,
    events: readonly WireEvent[],
    acked: number,
    resultsOnly: { sent: () => void } | undefined,
  ): Promise<'more'> {
    const { status: code, message } = answer;
    if (RETRYABLE.has(code) || MISCONFIGURED.has(code)) {
      if (code === 401) deps.onUnauthorized();
      const cap = MISCONFIGURED.has(code) ? settings.maxBackoffMs : Math.min(settings.maxBackoffMs, settings.minBackoffMs * 2 ** attempt);
      attempt = Math.min(attempt + 1, 30);
      // Full jitter (a random wait up to the capped exponential), but never sooner than Retry-After.
      const wait = Math.max(random() * cap, answer.retryAfterMs ?? 0);
      set({
        state: code === 0 && !online ? 'offline' : MISCONFIGURED.has(code) ? 'paused' : 'backoff',
        lastError: code === 0 ? message : `${code}: ${message}`,
        nextAttemptAt: now() + wait,
      });
      await sleep(wait);
      return 'more';
    }
    // Refused for good (400, 413, 422, …). Halve until the one event to
    // blame is alone, then keep it as a dead letter; the rest goes on.
    if (resultsOnly) {
      deps.report(new Error(`the server refused uploaded results (${code}: ${message}); they are not sent again`));
      resultsOnly.sent();
      return 'more';
    }
    if (events.length > 1) {
      limitEvents = Math.ceil(events.length / 2);
      return 'more';
    }
    const e = events[0]!;
    const letter: DeadLetter = { seq: e.seq, ts: e.ts, data: e.data, status: code, reason: message, at: now() };
    await store.deadLetter([letter]);
    deps.report(new Error(`the server refused event ${e.seq} for good (${code}: ${message}); it is kept as a dead letter`));
    const { count } = await store.deadLetters();
    set({ acked: Math.max(acked, e.seq), deadLetters: count, lastDeadLetter: letter });
    return 'more';
  }

  /** Pulls corrections after the stored cursor (`corrections` is loaded when the loop starts). */
  async function pullCorrections(current: StoredCorrections): Promise<StoredCorrections> {
    let corrections = current;
    let changed = false;
    for (;;) {
      const answer = await request('GET', `${PATHS.corrections}?clientId=${deps.clientId}&after=${corrections.cursor}`);
      if (!answer.ok) {
        set({ lastError: `corrections: ${answer.status}: ${answer.message}` });
        return corrections;
      }
      const page = answer.body as CorrectionsResponse;
      if (page.corrections.length === 0) break;
      corrections = { cursor: page.cursor, entries: mergeCorrections(corrections.entries, page.corrections) };
      changed = true;
    }
    if (changed) {
      await store.saveCorrections(corrections);
      deps.onCorrections(corrections);
    }
    set({ correctionsCursor: corrections.cursor });
    return corrections;
  }

  async function loop(): Promise<void> {
    if (running) return;
    running = true;
    try {
      const dead = await store.deadLetters();
      set({ acked: await store.acked(), deadLetters: dead.count, lastDeadLetter: dead.latest ?? null });
      let corrections = (await store.loadCorrections()) ?? { cursor: 0, entries: [] };
      if (corrections.entries.length > 0) deps.onCorrections(corrections);
      while (!stopped && endpoint) {
        if (!online) {
          set({ state: 'offline', nextAttemptAt: null });
          await sleep(settings.maxBackoffMs); // or until the 'online' event wakes us
          // The events only wake us: a worker can miss one, so ask again each time.
          online = deps.online?.() ?? online;
          continue;
        }
        const next = await upload();
        if (stopped) break;
        if (next === 'idle') {
          if (now() - lastCorrections >= settings.correctionsEveryMs) {
            lastCorrections = now();
            corrections = await pullCorrections(corrections);
            continue;
          }
          set({ state: 'idle', nextAttemptAt: null });
          await sleep(Math.max(10, settings.correctionsEveryMs - (now() - lastCorrections)));
        }
      }
    } catch (err) {
      // Storage failed under the uploader: say so, and start over after a while.
      deps.report(err);
      set({ state: 'backoff', lastError: errorParts(err).message, nextAttemptAt: now() + settings.maxBackoffMs });
      running = false;
      if (!stopped) setTimeout(() => void loop(), settings.maxBackoffMs);
      return;
    }
    running = false;
  }

  return {
    connect(url, t) {
      const changed = url !== endpoint || t !== token;
      endpoint = url;
      token = t;
      if (changed) attempt = 0;
      wakeUp?.();
      void loop();
    },
    wake() {
      if (status.state === 'idle') wakeUp?.();
    },
    setOnline(value) {
      online = value;
      if (!value) for (const request of inflight) request.abort(new DOMException('the network went away', 'AbortError'));
      if (value) {
        attempt = 0;
        lastCorrections = Number.NEGATIVE_INFINITY;
        wakeUp?.();
      }
    },
    async flushOnExit() {
      if (!endpoint || !online) return;
      const { parts } = await nextBatch(status.acked, LIMITS.keepaliveBytes - 256, LIMITS.maxEventsPerRequest);
      if (parts.length === 0) return;
      const body = `{"clientId":${JSON.stringify(deps.clientId)},"events":[${parts.join(',')}]}`;
      // Not awaited past the send: the page is going away. The outbox keeps
      // these events until an acknowledgement moves `acked`.
      void request('POST', PATHS.ingest, body, true);
    },
    stop() {
      stopped = true;
      wakeUp?.();
    },
  };
}

/** The latest correction per window, in cursor order. @internal */
export function mergeCorrections(old: readonly Correction[], fresh: readonly Correction[]): Correction[] {
  const byWindow = new Map<string, Correction>();
  for (const c of old) byWindow.set(windowId(c), c);
  for (const c of fresh) {
    const id = windowId(c);
    byWindow.delete(id);
    byWindow.set(id, c);
  }
  return [...byWindow.values()];
}


/** `Retry-After` as seconds or an HTTP date, in ms from now (capped at an hour). */
function retryAfter(header: string | null, at: number): { retryAfterMs?: number } {
  if (!header) return {};
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(header) - at;
  return Number.isFinite(ms) && ms >= 0 ? { retryAfterMs: Math.min(ms, 3_600_000) } : {};
}

/** The status before anything happened, in `state`. */
export function initialUploadStatus(state: UploadStatus['state']): UploadStatus {
  return { state, acked: 0, deadLetters: 0, lastDeadLetter: null, lastError: null, nextAttemptAt: null, correctionsCursor: 0 };
}
