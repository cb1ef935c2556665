// The Nexmark generator: shape, determinism, bounded out-of-orderness.
import { describe, expect, it } from 'vitest';
import { type Auction, BASE_TIME, type Bid, NexmarkGenerator, type Person } from '../../bench/nexmark/generator.js';

describe('Nexmark generator', () => {
  const inOrder = new NexmarkGenerator({ seed: 7 });
  const events = inOrder.events(0, 50_000);

  it('makes 1 person, 3 auctions and 46 bids per 50 events, with consecutive ids from 1000', () => {
    const people = events.filter((e): e is Person => e.kind === 'person');
    const auctions = events.filter((e): e is Auction => e.kind === 'auction');
    const bids = events.filter((e): e is Bid => e.kind === 'bid');
    expect([people.length, auctions.length, bids.length]).toEqual([1_000, 3_000, 46_000]);
    expect(people.map((p) => p.id)).toEqual(Array.from({ length: 1_000 }, (_, i) => 1_000 + i));
    expect(auctions.map((a) => a.id)).toEqual(Array.from({ length: 3_000 }, (_, i) => 1_000 + i));
    for (const a of auctions) {
      expect(a.seller).toBeGreaterThanOrEqual(1_000);
      expect(a.category).toBeGreaterThanOrEqual(10);
      expect(a.category).toBeLessThan(15);
      expect(a.reserve).toBeGreaterThan(a.initialBid);
      expect(a.expires).toBeGreaterThan(a.dateTime);
    }
  });

  it('draws bids as the specification does: hot auctions and bidders, prices from 1 $ to 1 M$, hot channels', () => {
    const bids = events.filter((e): e is Bid => e.kind === 'bid');
    const share = (p: (b: Bid) => boolean) => bids.filter(p).length / bids.length;
    // hotAuctionRatio 2: half the bids go to the hot auction (id - 1000 a multiple of 100), plus chance hits.
    expect(share((b) => (b.auction - 1_000) % 100 === 0)).toBeGreaterThan(0.48);
    expect(share((b) => (b.auction - 1_000) % 100 === 0)).toBeLessThan(0.53);
    // hotBiddersRatio 4: three quarters from hot bidders (id - 1001 a multiple of 100).
    expect(share((b) => (b.bidder - 1_001) % 100 === 0)).toBeGreaterThan(0.73);
    expect(share((b) => ['Google', 'Facebook', 'Baidu', 'Apple'].includes(b.channel))).toBeCloseTo(0.5, 1);
    expect(share((b) => /^channel-\d+$/.test(b.channel) && b.url.includes('channel_id='))).toBeCloseTo(0.5, 1);
    expect(bids.every((b) => Number.isInteger(b.price) && b.price >= 100 && b.price <= 100_000_000)).toBe(true);
    // A bid never names an auction far beyond the last one created.
    let lastAuction = 999;
    let beyond = 0;
    for (const e of events) {
      if (e.kind === 'auction') lastAuction = e.id;
      if (e.kind === 'bid' && e.auction > lastAuction + 10) beyond++;
    }
    expect(beyond).toBe(0);
  });

  it('stamps events at the configured rate from the base time', () => {
    expect(events[0]?.dateTime).toBe(BASE_TIME);
    expect(events[49_999]?.dateTime).toBe(BASE_TIME + 4_999); // 10 000 events/s: event 49 999 at 4.9999 s
    const slow = new NexmarkGenerator({ eventsPerSecond: 1_000 });
    expect(slow.event(1_234).dateTime).toBe(BASE_TIME + 1_234);
  });

  it('is deterministic from its seed, and any range can be generated on its own', () => {
    const again = new NexmarkGenerator({ seed: 7 }).events(0, 50_000);
    expect(again).toEqual(events);
    expect(new NexmarkGenerator({ seed: 8 }).events(0, 100)).not.toEqual(events.slice(0, 100));
    const g = new NexmarkGenerator({ seed: 3, maxOutOfOrderness: 1_000 });
    expect([...g.events(0, 12_345), ...g.events(12_345, 20_000)]).toEqual(g.events(0, 32_345));
  });

  it('disorders events within the bound, by permuting ids inside groups', () => {
    for (const [rate, bound] of [[10_000, 2_000], [1_000, 3_000], [777, 95], [10_000, 0]] as const) {
      const g = new NexmarkGenerator({ seed: 1, eventsPerSecond: rate, maxOutOfOrderness: bound });
      const n = 3 * g.groupSize + 17;
      const ids = Array.from({ length: n }, (_, i) => g.eventId(i));
      const whole = ids.slice(0, 3 * g.groupSize).sort((a, b) => a - b);
      expect(whole).toEqual(Array.from({ length: whole.length }, (_, i) => i)); // a permutation
      let newest = Number.NEGATIVE_INFINITY;
      let behind = 0;
      for (const e of g.events(0, n)) {
        newest = Math.max(newest, e.dateTime);
        behind = Math.max(behind, newest - e.dateTime);
      }
      expect(behind).toBeLessThanOrEqual(bound);
      if (bound >= 1_000) expect(behind).toBeGreaterThan(bound * 0.9); // and the bound is actually used
    }
  });
});
