/**
 * The serving layer's push (platform-free): the recent changes of a
 * {@link ServingView}, and a Server-Sent Events stream per subscriber that
 * resumes from `Last-Event-ID` with no gap and no repeat. A standard
 * `ReadableStream`, so the same code serves behind Node and on an edge.
 *
 * @internal
 * @module
 */
import type { ViewChange, ViewReset } from '../protocol/wire.js';
import { type Clock, systemClock } from '../time/clock.js';
import { matches, type ServingView, type ViewFilter } from './serving-view.js';

/** Options of a {@link ViewHub}. */
export interface ViewHubOptions {
  /** Changes kept for subscribers that resume (default 100 000); an older `Last-Event-ID` gets a `reset`. */
  readonly recent?: number;
  /** A comment line this often keeps proxies from closing a quiet stream (default 15 000 ms). */
  readonly heartbeatMs?: number;
  /** A subscriber this many encoded chunks behind is disconnected (default 10 000): it resumes with `Last-Event-ID`. */
  readonly maxQueued?: number;
  readonly clock?: Clock;
}

interface Subscriber {
  readonly filter: ViewFilter;
  readonly all: boolean;
  readonly controller: ReadableStreamDefaultController<Uint8Array>;
  close(): void;
}

const encoder = new TextEncoder();

/** Recent changes and live subscribers of one view. */
export class ViewHub {
  private readonly recent: { change: ViewChange; bytes: Uint8Array }[] = [];
  private readonly subscribers = new Set<Subscriber>();
  private readonly keep: number;
  private readonly heartbeatMs: number;
  private readonly maxQueued: number;
  private readonly clock: Clock;
  /** Changes published since start. */
  published = 0;

  constructor(
    private readonly view: ServingView,
    recent: readonly ViewChange[] = [],
    options: ViewHubOptions = {},
  ) {
    this.keep = options.recent ?? 100_000;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    this.maxQueued = options.maxQueued ?? 10_000;
    this.clock = options.clock ?? systemClock;
    for (const change of recent.slice(-this.keep)) this.recent.push({ change, bytes: encodeChange(change) });
  }

  /** Subscribers connected now. */
  get size(): number {
    return this.subscribers.size;
  }

  /** Sends `changes` (in id order) to every subscriber whose filter they pass. */
  publish(changes: readonly ViewChange[]): void {
    if (changes.length === 0) return;
    this.published += changes.length;
    const encoded = changes.map((change) => ({ change, bytes: encodeChange(change) }));
    for (const e of encoded) this.recent.push(e);
    if (this.recent.length > this.keep * 1.25) this.recent.splice(0, this.recent.length - this.keep);
    for (const sub of this.subscribers) {
      for (const e of encoded) if (sub.all || matches(e.change.row, sub.filter)) sub.controller.enqueue(e.bytes);
      if ((sub.controller.desiredSize ?? 0) < -this.maxQueued) sub.close();
    }
  }

  /**
   * A Server-Sent Events stream: the changes after `after` (when the hub
   * still has them all), else a `reset` event with the whole filtered view;
   * then every change as it is published, `id` = the change's id.
   */
  stream(after: number | undefined, filter: ViewFilter, onClose?: () => void): ReadableStream<Uint8Array> {
    let sub: Subscriber | undefined;
    let cancelBeat: () => void = () => undefined;
    const all = filter.key === undefined && filter.from === undefined && filter.to === undefined;
    let closed = false;
    const finish = () => {
      if (closed) return;
      closed = true;
      cancelBeat();
      if (sub) this.subscribers.delete(sub);
      onClose?.();
    };
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          controller.enqueue(encoder.encode('retry: 1000\n\n'));
          const oldest = this.recent[0]?.change.id ?? this.view.lastId + 1;
          const resumable = after !== undefined && after <= this.view.lastId && after >= oldest - 1;
          if (!resumable) {
            const reset: ViewReset = { lastEventId: this.view.lastId, rows: this.view.rows(filter) };
            controller.enqueue(encoder.encode(`id: ${reset.lastEventId}\nevent: reset\ndata: ${JSON.stringify(reset)}\n\n`));
          } else {
            let i = lowerBound(this.recent, after + 1);
            for (; i < this.recent.length; i++) {
              const e = this.recent[i]!;
              if (all || matches(e.change.row, filter)) controller.enqueue(e.bytes);
            }
          }
          sub = {
            filter,
            all,
            controller,
            close: () => {
              finish();
              try {
                controller.close();
              } catch {
                // already closed
              }
            },
          };
          this.subscribers.add(sub);
          const beat = () => {
            if (closed) return;
            controller.enqueue(encoder.encode(': keepalive\n\n'));
            cancelBeat = this.clock.timeout(beat, this.heartbeatMs);
          };
          cancelBeat = this.clock.timeout(beat, this.heartbeatMs);
        },
        cancel: () => finish(),
      },
      // desiredSize is then minus the chunks queued: how far behind the reader is.
      { highWaterMark: 0 },
    );
  }

  /** Ends every stream (the server is stopping). */
  close(): void {
    for (const sub of [...this.subscribers]) sub.close();
  }
}

function encodeChange(change: ViewChange): Uint8Array {
  return encoder.encode(`id: ${change.id}\nevent: change\ndata: ${JSON.stringify(change)}\n\n`);
}

/** The index of the first change with an id ≥ `id`. */
function lowerBound(recent: readonly { change: ViewChange }[], id: number): number {
  let lo = 0;
  let hi = recent.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (recent[mid]!.change.id < id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
