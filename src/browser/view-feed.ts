/**
 * `view$`: the view on subscribing, then again after it changed (results
 * fired, corrections arrived), at most every 100 ms on the page client's
 * clock, and never two reads at once.
 *
 * @module
 */
import { Observable } from 'rxjs';
import type { Clock } from '../time/clock.js';
import type { ViewEntry } from '../worker/contract.js';

/** Shortest time between two reads of the view. */
const MIN_INTERVAL_MS = 100;

/** What the feed reads and listens to. */
export interface ViewFeedOptions {
  /** Reads the whole view. */
  readonly read: () => Promise<ViewEntry[]>;
  /** Calls the listener whenever the view may have changed; the answer stops it. */
  readonly changes: (listener: () => void) => () => void;
  readonly clock: Clock;
  /** A failed read (the feed goes on). */
  readonly report: (err: unknown) => void;
  /** `true` once the runtime is closed: no more reads. */
  readonly closed: () => boolean;
}

/** The view as it changes (see the module's summary). */
export function viewFeed({ read, changes, clock, report, closed }: ViewFeedOptions): Observable<ViewEntry[]> {
  return new Observable<ViewEntry[]>((subscriber) => {
    let dirty = true;
    let busy = false;
    let cancel: (() => void) | undefined;
    const later = () => {
      cancel = clock.timeout(pull, MIN_INTERVAL_MS);
    };
    const pull = async () => {
      cancel = undefined;
      if (busy || !dirty || closed()) return;
      busy = true;
      dirty = false;
      try {
        subscriber.next(await read());
      } catch (err) {
        report(err);
      } finally {
        busy = false;
        if (dirty && !subscriber.closed) later();
      }
    };
    const stop = changes(() => {
      dirty = true;
      if (!busy && cancel === undefined) later();
    });
    void pull();
    return () => {
      stop();
      cancel?.();
    };
  });
}
