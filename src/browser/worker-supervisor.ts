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
import { describe, errorParts, InvalidOptionError, RuntimeClosedError, WorkerError } from '../errors.js';
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
export class WorkerSupervisor {
  /** The current worker (dead while being replaced). */
  link!: Sender;
  /** The client id the latest worker answered. */
  clientId = '';
  /** Workers replaced after dying or missing a time limit. */
  restarts = 0;
  /** Set by `close()`: no more replacements, calls reject. */
  closed = false;
  private restarting: Promise<void> | undefined;

  constructor(private readonly options: SupervisorOptions) {}

  /** Starts the first worker; rejects (after terminating it) if it does not start. */
  async start(): Promise<void> {
    this.link = await this.startWorker();
  }

  /** The worker to send to, or `undefined` while it is being replaced. */
  get ready(): Sender | undefined {
    return this.restarting || this.link.dead ? undefined : this.link;
  }

  /** Terminates the current worker and starts another, once; concurrent calls share the replacement. */
  restart(cause: unknown): Promise<void> {
    const { report, clock } = this.options;
    this.restarting ??= (async () => {
      this.link.kill(asWorkerError(cause, `the worker was replaced: ${errorParts(cause).message}`));
      report(cause);
      this.restarts++;
      for (let backoff: number = BACKOFF.firstMs; !this.closed; backoff = Math.min(backoff * 2, BACKOFF.maxMs)) {
        try {
          this.link = await this.startWorker();
          break;
        } catch (err) {
          report(err);
          await sleep(clock, backoff);
        }
      }
    })().finally(() => {
      this.restarting = undefined;
      this.options.restarted();
    });
    return this.restarting;
  }

  /** Calls the worker through `call`, riding out a replacement, until `deadline` (on the clock). */
  async callUntil<T>(what: string, deadline: number, call: (link: Sender) => Promise<T>): Promise<T> {
    for (;;) {
      if (this.closed) throw new RuntimeClosedError(`${what} after close(); create a new runtime`);
      if (this.restarting) await this.restarting;
      try {
        return await call(this.link);
      } catch (err) {
        const { name } = errorParts(err);
        const lost = name === 'WorkerError' || name === 'TimeoutError';
        if (!lost || this.options.clock.now() >= deadline) throw err;
        if (!this.restarting && !this.closed) void this.restart(err);
      }
    }
  }

  /**
   * The page is being hidden: asks the worker for a final checkpoint (which
   * releases leadership and closes its database), then ends it. Answers
   * `false` when no worker is up.
   */
  hide(): boolean {
    if (!this.ready) return false;
    const leaving = this.link;
    void leaving
      .call('close', this.options.callTimeoutMs)
      .catch(() => undefined)
      .finally(() => leaving.kill(new WorkerError('the page was hidden (pagehide)')));
    return true;
  }

  /** Holds (or resumes) uploads in every tab, and in any replacement worker. */
  setOffline(offline: boolean): Promise<void> {
    this.options.online.setForcedOffline(offline);
    const { clock, callTimeoutMs } = this.options;
    return this.callUntil('setOffline()', clock.now() + callTimeoutMs, (link) => link.call('setOffline', callTimeoutMs, offline));
  }

  /** A new worker, started; if it does not start it is terminated and the error thrown. */
  private async startWorker(): Promise<Sender> {
    const { open, callTimeoutMs, online, report } = this.options;
    const next: Sender = open(report, (message) => this.message(message, next));
    try {
      const { clientId } = await next.call('start', callTimeoutMs);
      this.clientId = clientId;
      // The switch first: a worker connected before it could upload in between.
      if (online.forcedOffline) await next.call('setOffline', callTimeoutMs, true);
      await this.connect(next, clientId);
      return next;
    } catch (err) {
      next.kill(asWorkerError(err, 'the worker did not start'));
      throw err;
    }
  }

  private message(message: PageMessage, from: Sender): void {
    // The server refused the token: the worker that asked gets a fresh one.
    if (message.type === 'token?') void this.connect(from);
    else if (message.type === 'offline') this.options.online.setForcedOffline(message.offline);
    else this.options.onMessage(message);
  }

  /** Gives the worker the endpoint and a token (fetched again when `token` is a function). */
  private async connect(target: Sender, clientId = this.clientId): Promise<void> {
    const { endpoint, token, callTimeoutMs, report } = this.options;
    if (endpoint === undefined || token === undefined) return;
    try {
      const t = typeof token === 'function' ? await token(clientId) : token;
      if (typeof t !== 'string') throw new InvalidOptionError('createRuntime.token', `the token function must give a string, got ${describe(t)}`);
      await target.call('connect', callTimeoutMs, endpoint, t);
    } catch (err) {
      report(err); // the worker keeps its outbox; a later restart or 401 tries again
    }
  }
}

function asWorkerError(err: unknown, message: string): WorkerError {
  return err instanceof WorkerError ? err : new WorkerError(message);
}
