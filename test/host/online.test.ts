// OnlineState (src/host/online.ts): the one owner of a host's online state.
import { describe, expect, it } from 'vitest';
import { OnlineState } from '../../src/host/online.js';

describe('OnlineState', () => {
  it('is online when the network is up and nobody forced offline; subscribers hear every change once', () => {
    const state = new OnlineState();
    const heard: boolean[] = [];
    state.subscribe((online) => heard.push(online));
    state.setNetwork(false);
    state.setNetwork(false);
    expect(state.setForcedOffline(true)).toBe(true);
    state.setNetwork(true); // still forced offline
    expect(state.online).toBe(false);
    expect(state.setForcedOffline(true)).toBe(false);
    state.setForcedOffline(false);
    expect(heard).toEqual([false, true]);
  });

  it('a change the probe shows is heard, so a later event that says the same still had its effect', () => {
    let onLine = false;
    const state = new OnlineState(() => onLine);
    const heard: boolean[] = [];
    state.subscribe((online) => heard.push(online));
    onLine = true; // navigator.onLine is back; the 'online' event has not come yet
    expect(state.online).toBe(true);
    expect(heard).toEqual([true]);
    state.setNetwork(true); // the event, late: nothing new
    onLine = false;
    state.setNetwork(false);
    expect(heard).toEqual([true, false]);
  });
});
