/**
 * `status$`: the worker's status polled every `intervalMs` on the page
 * client's clock (the first poll at once), while anyone subscribes; one
 * poll shared by every subscriber. An answer that arrives after the next
 * poll started is dropped, and so is a missed poll: a status is never older
 * than the one before it.
 *
 * @module
 */
import { Observable, share } from 'rxjs';
import type { Clock } from '../time/clock.js';

/** Polls `poll` every `intervalMs` while subscribed; `undefined` answers are skipped. */
export function statusFeed<S>(poll: () => Promise<S | undefined>, intervalMs: number, clock: Clock): Observable<S> {
  return new Observable<S>((subscriber) => {
    let round = 0;
    let cancel = clock.timeout(function tick() {
      cancel = clock.timeout(tick, intervalMs);
      const mine = ++round;
      void poll().then((status) => {
        if (status !== undefined && mine === round && !subscriber.closed) subscriber.next(status);
      });
    }, 0);
    return () => cancel(); // an answer still on its way is dropped: the subscriber is closed
  }).pipe(share());
}
