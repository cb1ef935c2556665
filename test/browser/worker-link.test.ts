// WorkerLink's time limits in virtual time: a worker that never answers
// (a stand-in with a Worker's surface: messages go nowhere) fails each call
// after exactly its limit, and every pending call when it is killed.
import { describe, expect, it } from 'vitest';
import { WorkerLink } from '../../src/browser/worker-link.js';
import { TimeoutError, WorkerError } from '../../src/errors.js';
import { virtualClock } from '../../src/testing/index.js';

/** A Worker that receives every message and answers none. */
function silentWorker() {
  const sent: unknown[] = [];
  let terminated = false;
  const worker = {
    postMessage: (message: unknown) => void sent.push(message),
    addEventListener: () => undefined,
    removeEventListener: () => undefined,
    terminate: () => {
      terminated = true;
    },
  };
  return { worker: worker as unknown as Worker, sent, terminated: () => terminated };
}

describe('WorkerLink', () => {
  it('rejects a call the worker does not answer after exactly its time limit, on the injected clock', async () => {
    const clock = virtualClock();
    const { worker, sent } = silentWorker();
    const link = new WorkerLink(() => worker, () => undefined, () => undefined, clock);
    let error: unknown;
    link.call('status', 2_000).catch((e: unknown) => {
      error = e;
    });
    expect(sent).toHaveLength(1); // the call went out
    await clock.advance(1_999);
    expect(error).toBeUndefined();
    await clock.advance(1);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toBe("status() got no answer from the runtime's worker within 2000 ms");
    expect(clock.pending).toBe(0);
  });

  it('kill() fails every pending call with its cause, cancels their timers, and terminates the worker', async () => {
    const clock = virtualClock();
    const { worker, terminated } = silentWorker();
    const link = new WorkerLink(() => worker, () => undefined, () => undefined, clock);
    const calls = [link.call('view', 10_000), link.call('checkpoint', 10_000)];
    const cause = new WorkerError('the runtime was closed');
    link.kill(cause);
    for (const call of calls) await expect(call).rejects.toBe(cause);
    expect(clock.pending).toBe(0);
    expect(terminated()).toBe(true);
    expect(link.dead).toBe(true);
    await expect(link.call('status', 10)).rejects.toBe(cause);
  });
});
