/**
 * The tabs protocol: how the workers of one runtime's tabs keep each other
 * informed over the origin's BroadcastChannel. The leader announces its
 * progress and status and answers view requests; every tab announces its
 * appends and the offline switch; a new tab says hello.
 *
 * @module
 */
import type { OnlineState } from '../host/online.js';
import type { Clock } from '../time/clock.js';
import type { ChannelMessage, LeaderStatus, PageMessage, ViewEntry } from './contract.js';
import type { Coordination } from './coordination.js';
import type { Leader } from './leader.js';
import type { Progress } from './progress.js';

/** What the protocol needs from its worker. */
export interface TabsDeps {
  readonly coordination: Coordination;
  readonly clock: Clock;
  readonly progress: Progress;
  readonly network: OnlineState;
  /** This tab's leader, while it leads. */
  leader(): Leader | undefined;
  /** Another tab appended events up to `last`. */
  othersAppended(last: number): void;
  toPage(message: PageMessage): void;
}

/** How long a view request waits for a leader before it is asked again (ms). */
const ASK_AGAIN_MS = 250;

/** One tab's side of the protocol. */
export class Tabs {
  /** The latest status the leader announced (or this tab's own, while it leads). */
  leaderStatus: LeaderStatus | undefined;
  // view() in a tab that does not lead asks the leader; a request waits
  // (and is asked again) until some leader, maybe this tab, has started.
  private readonly viewRequests = new Map<string, { resolve: (entries: readonly ViewEntry[]) => void; asked: number }>();
  private requests = 0;

  constructor(private readonly deps: TabsDeps) {}

  receive(message: ChannelMessage): void {
    const { coordination, progress, network } = this.deps;
    const leader = this.deps.leader();
    switch (message.type) {
      case 'appended':
        this.deps.othersAppended(message.last);
        break;
      case 'processed':
        this.leaderStatus = message.status;
        progress.advance(message.through);
        if (this.viewRequests.size > 0 && !leader) this.serveViews();
        if (message.status.failed) progress.fail(new Error('the leading tab reported it'));
        break;
      case 'hello':
        if (leader) this.announce();
        if (network.forcedOffline) coordination.post({ type: 'offline', offline: true }); // a new tab holds uploads too
        break;
      case 'offline':
        this.applyOffline(message.offline);
        break;
      case 'view?':
        if (leader) coordination.post({ type: 'view', id: message.id, entries: leader.view() });
        break;
      case 'view':
        this.viewRequests.get(message.id)?.resolve(message.entries as ViewEntry[]);
        this.viewRequests.delete(message.id);
        break;
      case 'corrections':
      case 'results':
        this.deps.toPage(message); // the leader's news, for this tab's page
        break;
    }
  }

  /** While this tab leads: its progress and status, to every tab (and its own waiters). */
  announce(): void {
    const leader = this.deps.leader();
    if (!leader) return;
    const through = leader.runner.processed;
    this.deps.progress.advance(through); // a restored checkpoint may already cover what a waiter wants
    this.leaderStatus = leader.status();
    this.deps.coordination.post({ type: 'processed', through, status: this.leaderStatus });
  }

  /** The view: this tab's leader's, or the leading tab's. */
  view(): Promise<ViewEntry[]> {
    const leader = this.deps.leader();
    if (leader) return Promise.resolve(leader.view());
    const id = `${this.deps.clock.now()}-${++this.requests}-${Math.random()}`;
    return new Promise<ViewEntry[]>((resolve) => {
      this.viewRequests.set(id, { resolve: resolve as (e: readonly ViewEntry[]) => void, asked: this.deps.clock.now() });
      this.deps.coordination.post({ type: 'view?', id });
    });
  }

  /** Answers waiting view requests from this tab's leader, or asks the leader again. */
  serveViews(): void {
    const leader = this.deps.leader();
    const now = this.deps.clock.now();
    for (const [id, request] of this.viewRequests) {
      if (leader) {
        this.viewRequests.delete(id);
        request.resolve(leader.view());
      } else if (now - request.asked > ASK_AGAIN_MS) {
        request.asked = now;
        this.deps.coordination.post({ type: 'view?', id });
      }
    }
  }

  /** `setOffline()` here: applied, and told to every tab. */
  setOffline(offline: boolean): void {
    this.applyOffline(offline);
    this.deps.coordination.post({ type: 'offline', offline });
  }

  /** Applies the switch here and tells the page, which applies it again to a replacement worker. */
  private applyOffline(offline: boolean): void {
    if (this.deps.network.setForcedOffline(offline)) this.deps.toPage({ type: 'offline', offline });
  }
}
