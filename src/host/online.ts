/**
 * Whether uploads may go out: the one owner of online, offline and forced
 * offline for a host (modelled on TanStack query-core's `onlineManager`).
 * The page's `setOffline()`, the worker's view of the network and the
 * uploader all read and change this one object, so they cannot disagree.
 *
 * @module
 */

/** A host's online state: the network as the platform reports it, and the app's own switch. */
export class OnlineState {
  private network: boolean;
  private forced = false;
  private readonly listeners = new Set<(online: boolean) => void>();

  /**
   * @param probe - asked on every read of {@link OnlineState.online} when given
   *   (e.g. `() => navigator.onLine`): an `online` event a worker missed
   *   cannot leave the state stale
   */
  constructor(private readonly probe?: () => boolean) {
    this.network = probe?.() ?? true;
  }

  /**
   * Uploads may go out: the network is up and nobody forced offline. A
   * change the probe shows is a change like any other: subscribers hear of
   * it (else an `online` event arriving after a read that saw the network
   * back would change nothing, and wake nobody).
   */
  get online(): boolean {
    if (this.probe) {
      const network = this.probe();
      if (network !== this.network) this.setNetwork(network);
    }
    return this.network && !this.forced;
  }

  /** The app's switch (`setOffline(true)`) holds uploads. */
  get forcedOffline(): boolean {
    return this.forced;
  }

  /** The platform says the network came or went. */
  setNetwork(online: boolean): void {
    this.change(() => {
      this.network = online;
    });
  }

  /** The app's switch; answers whether it changed. */
  setForcedOffline(offline: boolean): boolean {
    if (this.forced === offline) return false;
    this.change(() => {
      this.forced = offline;
    });
    return true;
  }

  /** Calls `listener(online)` on every change of {@link OnlineState.online}; the answer unsubscribes. */
  subscribe(listener: (online: boolean) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private change(apply: () => void): void {
    const before = this.network && !this.forced;
    apply();
    const after = this.network && !this.forced;
    if (before !== after) for (const l of [...this.listeners]) l(after);
  }
}
