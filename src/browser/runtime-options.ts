/**
 * `createRuntime`'s options ({@link RuntimeOptions}), validated eagerly and
 * resolved with their defaults into the page client's settings.
 *
 * @module
 */
import { describe, InvalidOptionError } from '../errors.js';
import { rejectUnknown, requireFunction, requireObject, requirePositiveInteger, requireTimerMs } from '../options.js';
import { type Clock, systemClock } from '../time/clock.js';

/** Options of `createRuntime`. */
export interface RuntimeOptions {
  /**
   * Creates the runtime's worker (a module worker calling `serveRuntime`),
   * e.g. `() => new Worker(new URL('./analytics.worker.ts', import.meta.url), { type: 'module' })`.
   * Called again to replace a worker that died.
   */
  readonly worker: () => Worker;
  /**
   * How events cross to the worker and are stored (default `'json'`, 1.3×
   * the throughput in `npm run bench:browser`): with `'json'`, events follow JSON's rules (as on the server): a
   * Date arrives as its ISO string, a function property disappears, a BigInt
   * or a cycle is refused. `'structured-clone'` keeps Dates, Maps and typed
   * arrays, and refuses functions. The pipeline sees the same events live and
   * after a restart either way.
   */
  readonly encoding?: 'json' | 'structured-clone';
  /** Most events per message to the worker (default 4 096). */
  readonly batchSize?: number;
  /** Time limit of each call to the worker, in ms (default 10 000); a worker that misses it is replaced. */
  readonly callTimeoutMs?: number;
  /**
   * Time limit of a worker's start, in ms (default 60 000): loading its
   * module and opening its database, including the recoveries
   * `serveRuntime` makes when IndexedDB does not answer (a reopen, then a
   * move to a fresh database, each after its `transactionTimeoutMs`, 15 s by
   * default). Keep it above `openTimeoutMs + 2 × transactionTimeoutMs` of
   * your `serveRuntime`: a shorter limit ends the worker before it can
   * recover, and every replacement meets the same silence.
   */
  readonly startTimeoutMs?: number;
  /** Time limit of `drain()`, in ms (default 60 000). */
  readonly drainTimeoutMs?: number;
  /** How often `status$` refreshes, in ms (default 500). */
  readonly statusIntervalMs?: number;
  /**
   * The Tidemark server's base URL, e.g. `'https://example.com/v1'` (see
   * `tidemark/server`). With it, the leading tab's worker uploads the outbox
   * (acknowledged events are then deleted once a checkpoint covers them),
   * uploads final window results, and pulls corrections into the view.
   */
  readonly endpoint?: string;
  /**
   * This client's token for `endpoint` (required with it). A function gets
   * the runtime's `clientId` and is called again when the server refuses the
   * token (401 or 403), e.g. `(id) => fetch('/my-token?clientId=' + id).then((r) => r.text())`.
   */
  readonly token?: string | ((clientId: string) => string | Promise<string>);
  /**
   * Start with uploads held, as `setOffline(true)` would, before the worker
   * first connects (default `false`): an app that remembers its "sync off"
   * switch across reloads passes it here, so not one request goes out in
   * between. `setOffline(false)` releases it.
   */
  readonly offline?: boolean;
  /**
   * Ask the browser to keep this origin's storage, with
   * `navigator.storage.persist()` (default `false`), so that eviction under
   * storage pressure is less likely. Asked once at start, without delaying it,
   * within `callTimeoutMs`; the answer is on `status$` as `storage.persist`
   * (`'granted'`, `'denied'`, …), and `storage.persisted` then reflects it.
   * Browsers decide by their own rules: Chromium by site engagement, Firefox
   * by a permission prompt (no answer while the prompt is open), WebKit denies.
   */
  readonly persist?: boolean;
  /**
   * The page side's clock (default `systemClock`): every time limit, retry
   * delay and polling interval above runs on it. For tests in virtual time
   * (`virtualClock()` from `tidemark/testing`); the worker keeps its own.
   */
  readonly clock?: Clock;
}

/** The page client's settings: {@link RuntimeOptions} validated, with their defaults. */
export interface PageSettings {
  readonly encoding: 'json' | 'structured-clone';
  readonly batchSize: number;
  readonly callTimeoutMs: number;
  readonly startTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly statusIntervalMs: number;
  readonly endpoint: string | undefined;
  readonly token: RuntimeOptions['token'];
  readonly offline: boolean;
  readonly persist: boolean;
  readonly clock: Clock;
}

const KNOWN = ['worker', 'encoding', 'batchSize', 'callTimeoutMs', 'startTimeoutMs', 'drainTimeoutMs', 'statusIntervalMs', 'endpoint', 'token', 'offline', 'persist', 'clock'] as const;

/** Validates `options` (throwing {@link InvalidOptionError} with how to fix it) and applies the defaults. */
export function resolveRuntimeOptions(options: RuntimeOptions): PageSettings {
  requireObject('createRuntime(options)', options);
  rejectUnknown('createRuntime', options, KNOWN);
  requireFunction(
    'createRuntime.worker',
    options.worker,
    "pass () => new Worker(new URL('./analytics.worker.ts', import.meta.url), { type: 'module' })",
  );
  const batchSize = options.batchSize ?? 4096;
  const encoding = options.encoding ?? 'json';
  if (encoding !== 'json' && encoding !== 'structured-clone')
    throw new InvalidOptionError('createRuntime.encoding', `must be 'json' or 'structured-clone', got ${describe(encoding)}`);
  const callTimeoutMs = options.callTimeoutMs ?? 10_000;
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const drainTimeoutMs = options.drainTimeoutMs ?? 60_000;
  const statusIntervalMs = options.statusIntervalMs ?? 500;
  requirePositiveInteger('createRuntime.batchSize', batchSize);
  requireTimerMs('createRuntime.callTimeoutMs', callTimeoutMs);
  requireTimerMs('createRuntime.startTimeoutMs', startTimeoutMs);
  requireTimerMs('createRuntime.drainTimeoutMs', drainTimeoutMs);
  requireTimerMs('createRuntime.statusIntervalMs', statusIntervalMs);
  const { endpoint, token, clock = systemClock } = options;
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
      throw new InvalidOptionError('createRuntime.endpoint', `must be an absolute http(s) URL such as 'https://example.com/v1', got ${describe(endpoint)}`);
    if (typeof token !== 'string' && typeof token !== 'function')
      throw new InvalidOptionError('createRuntime.token', "is required with an endpoint: a string, or (clientId) => token; `npx tidemark token <clientId>` prints one");
  } else if (token !== undefined) throw new InvalidOptionError('createRuntime.token', 'was given without an endpoint; pass endpoint too');
  const c = clock as Partial<Clock> | null;
  if (typeof c !== 'object' || c === null || typeof c.now !== 'function' || typeof c.timeout !== 'function')
    throw new InvalidOptionError(
      'createRuntime.clock',
      `expected a Clock ({ now(), timeout(fn, ms) }) such as virtualClock() from tidemark/testing, got ${describe(clock)}; omit it to use the system clock`,
    );
  const offline = options.offline ?? false;
  if (typeof offline !== 'boolean') throw new InvalidOptionError('createRuntime.offline', `takes a boolean, got ${describe(offline)}`);
  const persist = options.persist ?? false;
  if (typeof persist !== 'boolean') throw new InvalidOptionError('createRuntime.persist', `takes a boolean, got ${describe(persist)}`);
  return { encoding, batchSize, callTimeoutMs, startTimeoutMs, drainTimeoutMs, statusIntervalMs, endpoint, token, offline, persist, clock };
}
