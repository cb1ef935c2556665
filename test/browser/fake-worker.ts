// A fake worker for the page client's Node tests: a Sender with the same
// contract as WorkerLink (each call has a time limit on the clock and
// rejects when the worker is killed), over an outbox shared by every worker
// of one test, as IndexedDB is shared by the workers of one origin.
import { TimeoutError, type WorkerError } from '../../src/errors.js';
import type { Method, OpenSender, Sender } from '../../src/browser/sender.js';
import type { Clock } from '../../src/time/clock.js';
import type { AppendReceipt, PageMessage, RuntimeStatus } from '../../src/worker/contract.js';

/** What a fake worker answers to `method`; a promise that never settles is a worker that hangs. */
export type Behaviour = (method: Method, args: unknown[], worker: FakeWorker) => Promise<unknown> | undefined;

/** Never settles: a worker that stopped answering. */
export const hang = () => new Promise<never>(() => undefined);

export class FakeWorker implements Sender {
  /** Every call received, with the clock's time. */
  readonly calls: { method: Method; args: unknown[]; at: number }[] = [];
  cause: WorkerError | undefined;
  private readonly pending = new Set<(err: Error) => void>();

  constructor(
    /** Which worker of the test this is: 0 for the first, 1 for its first replacement… */
    readonly index: number,
    private readonly clock: Clock,
    private readonly answer: (method: Method, args: unknown[], worker: FakeWorker) => Promise<unknown>,
    private readonly onMessage: (message: PageMessage) => void,
  ) {}

  get dead(): boolean {
    return this.cause !== undefined;
  }

  call<M extends Method>(method: M, timeoutMs: number, ...args: unknown[]): never {
    return new Promise<unknown>((resolve, reject) => {
      if (this.cause) return reject(this.cause);
      const fail = (err: Error) => {
        cancel();
        this.pending.delete(fail);
        reject(err);
      };
      const cancel = this.clock.timeout(() => fail(new TimeoutError(`${method}() got no answer within ${timeoutMs} ms`)), timeoutMs);
      this.pending.add(fail);
      this.calls.push({ method, args, at: this.clock.now() });
      Promise.resolve()
        .then(() => this.answer(method, args, this))
        .then((value) => {
          if (!this.pending.has(fail)) return;
          cancel();
          this.pending.delete(fail);
          resolve(value);
        }, fail);
    }) as never;
  }

  kill(cause: WorkerError): void {
    if (this.cause) return;
    this.cause = cause;
    for (const fail of [...this.pending]) fail(cause);
  }

  /** The worker posts `message` to its page. */
  post(message: PageMessage): void {
    this.onMessage(message);
  }

  methods(method: Method) {
    return this.calls.filter((c) => c.method === method);
  }
}

/** A status as a healthy worker reports it. */
export const status = (over: Partial<RuntimeStatus> = {}): RuntimeStatus => ({
  clientId: 'c1',
  leader: true,
  online: true,
  outbox: { events: 0, bytes: 0, records: 0 },
  appended: 0,
  processed: 0,
  watermark: Number.NEGATIVE_INFINITY,
  lastCheckpoint: null,
  state: { openWindows: 0, viewWindows: 0 },
  lateRecords: 0,
  dropped: 0,
  refused: 0,
  expired: 0,
  failed: false,
  errors: [],
  upload: { state: 'disabled', acked: 0, deadLetters: 0, lastDeadLetter: null, lastError: null, nextAttemptAt: null, correctionsCursor: 0, untimed: 0 },
  storage: { database: 'tidemark:test', reopened: 0, moved: 0, vanished: 0, persisted: null, usage: null, quota: null },
  ...over,
});

/**
 * Opens fake workers; `behaviour` may answer any call (else the healthy
 * default: appends are numbered once per batch id, across workers).
 */
export function fakeWorkers(clock: Clock, behaviour: Behaviour = () => undefined) {
  const workers: FakeWorker[] = [];
  /** Batch id → the range stored, shared by every worker (the outbox). */
  const stored = new Map<string, { first: number; last: number }>();
  /** Every append received, in order: batch id, length, resent. */
  const appends: { id: string; length: number; resent: boolean; worker: number }[] = [];
  let seq = 0;
  const healthy = (method: Method, args: unknown[], worker: FakeWorker): Promise<unknown> => {
    switch (method) {
      case 'start':
        return Promise.resolve({ clientId: 'c1' });
      case 'append': {
        const [id, , , length, resent] = args as [string, unknown, string, number, boolean];
        appends.push({ id, length, resent, worker: worker.index });
        const known = stored.get(id);
        if (known) return Promise.resolve({ ok: true, ...known, duplicate: true } satisfies AppendReceipt);
        const range = { first: seq + 1, last: (seq += length) };
        stored.set(id, range);
        return Promise.resolve({ ok: true, ...range, duplicate: false } satisfies AppendReceipt);
      }
      case 'status':
        return Promise.resolve(status({ appended: seq, processed: seq }));
      case 'view':
        return Promise.resolve([]);
      case 'checkpoint':
        return Promise.resolve(seq);
      default:
        return Promise.resolve(undefined);
    }
  };
  const open: OpenSender = (_onIssue, onMessage) => {
    const worker = new FakeWorker(workers.length, clock, (m, a, w) => behaviour(m, a, w) ?? healthy(m, a, w), onMessage);
    workers.push(worker);
    return worker;
  };
  return { open, workers, appends, stored, last: () => workers[workers.length - 1] as FakeWorker };
}
