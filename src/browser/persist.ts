/**
 * `createRuntime({ persist: true })`: asks the browser to keep this origin's
 * storage (`navigator.storage.persist()`, a page-only API) so that eviction
 * under storage pressure, or WebKit's deletion of script-writable storage
 * after days without interaction, is less likely, and keeps the answer for
 * `status$.storage.persist`. The only file calling `navigator.storage.persist`.
 *
 * @module
 */
import { TimeoutError } from '../errors.js';
import type { Clock } from '../time/clock.js';
import type { PersistOutcome } from './runtime.js';

/**
 * Asks once, raced against `timeoutMs` on `clock`: Firefox under automation
 * never settles `persist()` unless its profile allows persistent storage.
 * Answers a getter of the outcome; a missing answer is reported.
 */
export function requestPersistence(clock: Clock, timeoutMs: number, report: (err: Error) => void): () => PersistOutcome {
  const storage = (globalThis.navigator as Navigator | undefined)?.storage;
  if (typeof storage?.persist !== 'function') return () => 'unsupported';
  let outcome: PersistOutcome = 'asking';
  const cancel = clock.timeout(() => {
    if (outcome !== 'asking') return;
    outcome = 'no-answer';
    report(
      new TimeoutError(
        `navigator.storage.persist() did not answer within ${timeoutMs} ms; storage stays best-effort ` +
          '(in automated Firefox, set the pref permissions.default.persistent-storage to 1)',
      ),
    );
  }, timeoutMs);
  storage.persist().then(
    (granted) => {
      cancel();
      outcome = granted ? 'granted' : 'denied';
    },
    (err: unknown) => {
      cancel();
      outcome = 'denied';
      report(err instanceof Error ? err : new Error(String(err)));
    },
  );
  return () => outcome;
}
