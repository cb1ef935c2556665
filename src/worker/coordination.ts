/**
 * How the tabs of one origin agree on who runs the pipeline: a Web Lock
 * (exactly one holder; released by the browser when the holder's worker or
 * tab goes away) and a BroadcastChannel for everything else. The only file
 * that touches `navigator.locks` and `BroadcastChannel`.
 *
 * @module
 */
import type { ChannelMessage } from './contract.js';

/** The coordination primitives the runtime uses. */
export interface Coordination {
  /**
   * Waits for leadership, then runs `lead`; leadership is held until the
   * promise `lead` returns settles.
   */
  lead(lead: () => Promise<void>): void;
  /** Sends to every other context of this origin listening on the runtime's channel. */
  post(message: ChannelMessage): void;
  /** Receives the other contexts' messages. */
  listen(handler: (message: ChannelMessage) => void): void;
  close(): void;
}

/** Web Locks + BroadcastChannel for runtime `name`. */
export function browserCoordination(name: string, onError: (err: unknown) => void): Coordination {
  const channel = new BroadcastChannel(`tidemark:${name}`);
  let closed = false;
  return {
    lead(lead) {
      const locks = (globalThis.navigator as Navigator | undefined)?.locks;
      if (!locks) {
        // No Web Locks (very old browsers): one tab cannot know about the others.
        onError(new Error('Web Locks are unavailable: this tab runs the pipeline alone; open one tab at a time'));
        void lead().catch(onError);
        return;
      }
      locks.request(`tidemark:${name}:leader`, () => (closed ? undefined : lead())).catch(onError);
    },
    post(message) {
      if (!closed) channel.postMessage(message);
    },
    listen(handler) {
      channel.onmessage = (e: MessageEvent<ChannelMessage>) => handler(e.data);
    },
    close() {
      closed = true;
      channel.close();
    },
  };
}
