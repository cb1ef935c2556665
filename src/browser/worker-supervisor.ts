/**
 * The page's worker, kept alive: starts it (client id, endpoint and token,
 * the forced-offline switch), replaces it when it dies or misses a time
 * limit (retrying with a doubling backoff, 100 ms up to 5 s, on the page
 * client's clock), and lets calls ride out a replacement until their
 * deadline. What was not durable is re-sent by the batch queue once a
 * replacement is up (the `restarted` hook).
 *
 * @module
 */
import { describe, errorParts, InvalidOptionError, RuntimeClosedError, TimeoutError, WorkerError } from '../errors.js';
import type { OnlineState } from '../host/online.js';
import { type Clock, sleep } from '../time/clock.js';
import type { PageMessage } from '../worker/contract.js';
import type { OpenSender, Sender } from './sender.js';

/** The first wait before starting a replacement again, and the longest. */
const BACKOFF = { firstMs: 100, maxMs: 5_000 } as const;

/** What the supervisor works with. */
export interface SupervisorOptions {
  readonly open: OpenSender;
  readonly clock: Clock;
  readonly callTimeoutMs: number;
  /** Time limit of a worker's `start()` (module load, database open and its recoveries). */
  readonly startTimeoutMs: number;
  /** The server to upload to, and this client's token (or how to get one). */
  readonly endpoint: string | undefined;
  readonly token: string | ((clientId: string) => string | Promise<string>) | undefined;
  /** The page's forced-offline switch, applied to every replacement worker. */
  readonly online: OnlineState;
  readonly report: (err: unknown) => void;
  /** Messages from the worker that the supervisor does not answer itself (results, corrections). */
  readonly onMessage: (message: PageMessage) => void;
  /** A replacement worker is up (or the runtime closed while replacing it): re-send what is not durable. */
  readonly restarted: () => void;
}

/** Owns the current worker ({@link WorkerSupervisor.link}) and replaces it. */
export interface WorkerSupervisor {
  /** The current worker (dead while being replaced). */
  readonly link: Sender;
  /** The worker to send to, or `undefined` while it is being replaced. */
  readonly ready: Sender | undefined;
  /** The client id the latest worker answered. */
  readonly clientId: string;
  /** Workers replaced after dying or missing a time limit. */
  readonly restarts: number;
  /** `true` after {@link WorkerSupervisor.close}. */
  readonly closed: boolean;
  /** Starts the first worker; rejects (after terminating it) if it does not start. */
  start(): Promise<void>;
  /** Terminates the current worker and starts another, once; concurrent calls share the replacement. */
  restart(cause: unknown): Promise<void>;
  /** Calls the worker through `call`, riding out a replacement, until `deadline` (on the clock). */
  callUntil<T>(what: string, deadline: number, call: (link: Sender) => Promise<T>): Promise<T>;
  /**
   * The page is being hidden: asks the worker for a final checkpoint (which
   * releases leadership and closes its database), then ends it. Answers
   * `false` when no worker is up.
   */
  hide(): boolean;
  /** Holds (or resumes) uploads in every tab, and in any replacement worker. */
  setOffline(offline: boolean): Promise<void>;
  /** No more replacements; calls reject from now on. The worker itself is ended by the caller. */
  close(): void;
}

/**
 * A supervisor with no worker yet: call `start()`. A closure rather than a
 * class: its state then minifies to short local names (the page bundle is a
 * budget, `scripts/size-report.mjs`).
 */
export function workerSupervisor(options: SupervisorOptions): WorkerSupervisor {
  const { open, clock, callTimeoutMs, startTimeoutMs, endpoint, token, online, report } = options;
  let link!: Sender;
  let clientId = '';
  let restarts = 0;
  let closed = false;
  let restarting: Promise<void> | undefined;

  /** Gives the worker the endpoint and a token (fetched again when `token` is a function). */
  const connect = async (target: Sender, id = clientId): Promise<void> => {
    if (endpoint === undefined || token === undefined) return;
    try {
      const t = typeof token === 'function' ? await token(id) : token;
      if (typeof t !== 'string') throw new InvalidOptionError('createRuntime.token', `the token function must give a string, got ${describe(t)}`);
      await target.call('connect', callTimeoutMs, endpoint, t);
    } catch (err) {
      report(err); // the worker keeps its outbox; a later restart or 401 tries again
    }
  };

  const message = (m: PageMessage, from: Sender) => {
    // The server refused the token: the worker that asked gets a fresh one.
    if (m.type === 'token?') void connect(from);
    else if (m.type === 'offline') online.setForcedOffline(m.offline);
    else options.onMessage(m);
  };

  /** A new worker, started; if it does not start it is terminated and the error thrown. */
  const startWorker = async (): Promise<Sender> => {
    const next: Sender = open(report, (m) => message(m, next));
    try {
      const since = clock.now();
      const started = await next.call('start', startTimeoutMs).catch((err: unknown) => {
        // The limit ran out (not a time limit of the worker's own, such as openTimeoutMs, which says what to do itself).
        throw errorParts(err).name === 'TimeoutError' && clock.now() - since >= startTimeoutMs
          ? new TimeoutError(
              `the runtime's worker did not start within ${startTimeoutMs} ms: it may not load (see the worker's console) ` +
                "or its IndexedDB may not answer; raise createRuntime's startTimeoutMs above serveRuntime's " +
                'openTimeoutMs + 2 × transactionTimeoutMs, so that the worker can recover before it is replaced',
            )
          : err;
      });
      clientId = started.clientId;
      // The switch first: a worker connected before it could upload in between.
      if (online.forcedOffline) await next.call('setOffline', callTimeoutMs, true);
      await connect(next, clientId);
      return next;
    } catch (err) {
      next.kill(asWorkerError(err, 'the worker did not start'));
      throw err;
    }
  };

  const restart = (cause: unknown): Promise<void> => {
    restarting ??= (async () => {
      link.kill(asWorkerError(cause, `the worker was replaced: ${errorParts(cause).message}`));
      report(cause);
      restarts++;
      for (let backoff: number = BACKOFF.firstMs; !closed; backoff = Math.min(backoff * 2, BACKOFF.maxMs)) {
        try {
          link = await startWorker();
          break;
        } catch (err) {
          report(err);
          await sleep(clock, backoff);
        }
      }
    })().finally(() => {
      restarting = undefined;
      options.restarted();
    });
    return restarting;
  };

  const callUntil = async <T>(what: string, deadline: number, call: (link: Sender) => Promise<T>): Promise<T> => {
    for (;;) {
      if (closed) throw new RuntimeClosedError(`${what} after close(); create a new runtime`);
      if (restarting) await restarting;
      try {
        return await call(link);
      } catch (err) {
        const { name } = errorParts(err);
        const gone = name === 'WorkerError' || name === 'TimeoutError';
        if (!gone || clock.now() >= deadline) throw err;
        if (!restarting && !closed) void restart(err);
      }
    }
  };

  const ready = () => (restarting || link.dead ? undefined : link);

  return {
    get link() {
      return link;
    },
    get ready() {
      return ready();
    },
    get clientId() {
      return clientId;
    },
    get restarts() {
      return restarts;
    },
    get closed() {
      return closed;
    },
    async start() {
      link = await startWorker();
    },
    restart,
    callUntil,
    hide() {
      if (!ready()) return false;
      const leaving = link;
      void leaving
        .call('close', callTimeoutMs)
        .catch(() => undefined)
        .finally(() => leaving.kill(new WorkerError('the page was hidden (pagehide)')));
      return true;
    },
    setOffline(offline) {
      online.setForcedOffline(offline);
      return callUntil('setOffline()', clock.now() + callTimeoutMs, (l) => l.call('setOffline', callTimeoutMs, offline));
    },
    close() {
      closed = true;
    },
  };
}

function asWorkerError(err: unknown, message: string): WorkerError {
  return err instanceof WorkerError ? err : new WorkerError(message);
}
