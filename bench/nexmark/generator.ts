/**
 * A Nexmark event generator: people, auctions and bids of an online auction
 * site, in the proportions, id schemes, price law, channels and timing of the
 * Nexmark specification (Tucker et al., as implemented by Apache Beam's and
 * Flink's `nexmark` generators), written here from that description.
 *
 * - Every 50 events: 1 person, 3 auctions, 46 bids, by event id.
 * - Ids start at 1000. An auction's seller and a bid's bidder are "hot" (a
 *   person id rounded down to a multiple of 100) with probability
 *   1 - 1/hotSellersRatio, resp. 1 - 1/hotBiddersRatio, else one of the last
 *   1000 people (plus a lead of 10 not yet created). A bid's auction is hot
 *   (rounded down to a multiple of 100) with probability 1 - 1/hotAuctionRatio,
 *   else one of the last 100 auctions (plus a lead of 10).
 * - Prices are cents, `round(10^(6u) · 100)` for uniform u: 1 $ to 1 M$.
 * - Half the bids come from one of 4 hot channels (Google, Facebook, Baidu,
 *   Apple), the others from `channel-0` … `channel-9999`, each with its URL.
 * - Event `id` happens at `baseTime + floor(id · 1000 / eventsPerSecond)` ms.
 * - Out-of-orderness as in the specification: events arrive in groups of G
 *   consecutive ids, permuted within the group by `j ↦ j · 953 mod G`. G is
 *   the largest group whose time span stays within `maxOutOfOrderness`, so no
 *   event arrives more than that behind the newest one before it.
 *
 * Deterministic: event `n` (in arrival order) depends only on the options and
 * `n`, never on what was generated before, so any range can be generated
 * independently. One deliberate difference: the `extra` padding, which the
 * specification adds only to reach average serialised sizes (100 bytes per
 * bid), is left empty, since nothing here is serialised.
 *
 * @module
 */

export interface Person {
  readonly kind: 'person';
  readonly id: number;
  readonly name: string;
  readonly emailAddress: string;
  readonly creditCard: string;
  readonly city: string;
  readonly state: string;
  readonly dateTime: number;
  readonly extra: string;
}

export interface Auction {
  readonly kind: 'auction';
  readonly id: number;
  readonly itemName: string;
  readonly description: string;
  readonly initialBid: number;
  readonly reserve: number;
  readonly dateTime: number;
  readonly expires: number;
  readonly seller: number;
  readonly category: number;
  readonly extra: string;
}

export interface Bid {
  readonly kind: 'bid';
  readonly auction: number;
  readonly bidder: number;
  /** Cents. */
  readonly price: number;
  readonly channel: string;
  readonly url: string;
  readonly dateTime: number;
  readonly extra: string;
}

export type NexmarkEvent = Person | Auction | Bid;

export interface GeneratorOptions {
  /** Any 32-bit integer; default 1. */
  readonly seed?: number;
  /** Event-time rate; default 10 000 (the specification's first event rate). */
  readonly eventsPerSecond?: number;
  /** The most an event may arrive behind the newest one before it, in ms; default 0 (in order). */
  readonly maxOutOfOrderness?: number;
  /** Time of event 0, epoch ms; default 2024-01-01T00:00:00Z. */
  readonly baseTime?: number;
  /** Default 2: half the bids go to a hot auction. */
  readonly hotAuctionRatio?: number;
  /** Default 4. */
  readonly hotSellersRatio?: number;
  /** Default 4. */
  readonly hotBiddersRatio?: number;
}

const PERSON_PROPORTION = 1;
const AUCTION_PROPORTION = 3;
const PROPORTION_DENOMINATOR = 50; // + 46 bids
const FIRST_PERSON_ID = 1000;
const FIRST_AUCTION_ID = 1000;
const FIRST_CATEGORY_ID = 10;
const NUM_CATEGORIES = 5;
const NUM_ACTIVE_PEOPLE = 1000;
const PERSON_ID_LEAD = 10;
const NUM_IN_FLIGHT_AUCTIONS = 100;
const AUCTION_ID_LEAD = 10;
const HOT_AUCTION_RATIO = 100;
const HOT_SELLER_RATIO = 100;
const HOT_BIDDER_RATIO = 100;
const HOT_CHANNELS_RATIO = 2;
const CHANNELS_NUMBER = 10_000;
const HOT_CHANNELS = ['Google', 'Facebook', 'Baidu', 'Apple'] as const;
const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'] as const;
const US_CITIES = ['Phoenix', 'Los Angeles', 'San Francisco', 'Boise', 'Portland', 'Bend', 'Redmond', 'Seattle', 'Kent', 'Cheyenne'] as const;
const FIRST_NAMES = ['Peter', 'Paul', 'Luke', 'John', 'Saul', 'Vicky', 'Kate', 'Julie', 'Sarah', 'Deiter', 'Walter'] as const;
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris'] as const;
/** The specification's out-of-order permutation multiplier (a prime). */
const PERMUTE = 953;

/** 2024-01-01T00:00:00Z. */
export const BASE_TIME = 1_704_067_200_000;

/** A small PRNG (mulberry32), reseeded per event so that event n never depends on event n - 1. */
class Random {
  private s = 0;
  seed(seed: number): void {
    this.s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  string(maxLength: number): string {
    const length = 3 + this.int(maxLength - 3);
    let s = '';
    for (let i = 0; i < length; i++) s += this.int(13) === 0 ? ' ' : String.fromCharCode(97 + this.int(26));
    return s;
  }
}

/** Mixes the seed and an event id into a 32-bit seed. */
function mix(seed: number, id: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ (id >>> 0) ^ Math.floor(id / 4294967296);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

function lastBase0PersonId(eventId: number): number {
  const epoch = Math.floor(eventId / PROPORTION_DENOMINATOR);
  let offset = eventId % PROPORTION_DENOMINATOR;
  if (offset >= PERSON_PROPORTION) offset = PERSON_PROPORTION - 1;
  return epoch * PERSON_PROPORTION + offset;
}

function lastBase0AuctionId(eventId: number): number {
  let epoch = Math.floor(eventId / PROPORTION_DENOMINATOR);
  let offset = eventId % PROPORTION_DENOMINATOR;
  if (offset < PERSON_PROPORTION) {
    epoch--; // no auction in this epoch yet: the last one of the previous epoch
    offset = AUCTION_PROPORTION - 1;
  } else if (offset >= PERSON_PROPORTION + AUCTION_PROPORTION) offset = AUCTION_PROPORTION - 1;
  else offset -= PERSON_PROPORTION;
  return epoch * AUCTION_PROPORTION + offset;
}

function nextBase0PersonId(eventId: number, random: Random): number {
  const people = lastBase0PersonId(eventId) + 1;
  const active = Math.min(people, NUM_ACTIVE_PEOPLE);
  return people - active + random.int(active + PERSON_ID_LEAD);
}

function nextBase0AuctionId(eventId: number, random: Random): number {
  const maxAuction = lastBase0AuctionId(eventId);
  const minAuction = Math.max(maxAuction - NUM_IN_FLIGHT_AUCTIONS, 0);
  return minAuction + random.int(maxAuction - minAuction + 1 + AUCTION_ID_LEAD);
}

function nextPrice(random: Random): number {
  return Math.round(10 ** (random.next() * 6) * 100);
}

function baseUrl(random: Random): string {
  return `https://www.nexmark.com/${random.string(5)}/${random.string(5)}/${random.string(5)}/item.htm?query=1`;
}

/** Reverses the 31 low bits of n, as the specification's channel ids do. */
function reverseBits(n: number): number {
  let r = 0;
  for (let i = 0; i < 31; i++) r = r * 2 + ((n >>> i) & 1);
  return r;
}

export class NexmarkGenerator {
  readonly eventsPerSecond: number;
  readonly maxOutOfOrderness: number;
  readonly baseTime: number;
  /** Events per out-of-order group (1: in order). */
  readonly groupSize: number;
  private readonly seedValue: number;
  private readonly hotAuctionRatio: number;
  private readonly hotSellersRatio: number;
  private readonly hotBiddersRatio: number;
  private readonly random = new Random();
  private readonly channels: string[] = [];
  private readonly urls: string[] = [];
  private readonly hotUrls: string[] = [];

  constructor(options: GeneratorOptions = {}) {
    this.seedValue = options.seed ?? 1;
    this.eventsPerSecond = options.eventsPerSecond ?? 10_000;
    this.maxOutOfOrderness = options.maxOutOfOrderness ?? 0;
    this.baseTime = options.baseTime ?? BASE_TIME;
    this.hotAuctionRatio = options.hotAuctionRatio ?? 2;
    this.hotSellersRatio = options.hotSellersRatio ?? 4;
    this.hotBiddersRatio = options.hotBiddersRatio ?? 4;
    if (!(this.eventsPerSecond > 0) || !(this.maxOutOfOrderness >= 0)) throw new RangeError('eventsPerSecond must be > 0, maxOutOfOrderness >= 0');
    // A group of G ids spans at most ceil((G - 1) · delay) ms; G = floor(bound / delay) keeps that within the bound.
    let g = Math.max(1, Math.floor((this.maxOutOfOrderness * this.eventsPerSecond) / 1000));
    if (g % PERMUTE === 0) g--; // the permutation needs gcd(953, G) = 1
    this.groupSize = g;
    const random = this.random;
    random.seed(mix(this.seedValue, -1));
    for (let i = 0; i < HOT_CHANNELS.length; i++) this.hotUrls.push(baseUrl(random));
    for (let i = 0; i < CHANNELS_NUMBER; i++) {
      this.channels.push(`channel-${i}`);
      this.urls.push(`${baseUrl(random)}&channel_id=${reverseBits(i)}`);
    }
  }

  /** Id of the event that arrives `n`-th (from 0). */
  eventId(n: number): number {
    const g = this.groupSize;
    const base = n - (n % g);
    return base + (((n - base) * PERMUTE) % g);
  }

  /** Event time of event `id`, epoch ms. */
  timestampOf(id: number): number {
    return this.baseTime + Math.floor((id * 1000) / this.eventsPerSecond);
  }

  /** The event that arrives `n`-th. */
  event(n: number): NexmarkEvent {
    const id = this.eventId(n);
    const random = this.random;
    random.seed(mix(this.seedValue, id));
    const dateTime = this.timestampOf(id);
    const rem = id % PROPORTION_DENOMINATOR;
    if (rem < PERSON_PROPORTION) return this.person(id, dateTime, random);
    if (rem < PERSON_PROPORTION + AUCTION_PROPORTION) return this.auction(id, dateTime, random);
    return this.bid(id, dateTime, random);
  }

  /** Events `from` … `from + count - 1`, in arrival order. */
  events(from: number, count: number): NexmarkEvent[] {
    const out: NexmarkEvent[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = this.event(from + i);
    return out;
  }

  private person(id: number, dateTime: number, random: Random): Person {
    const name = `${FIRST_NAMES[random.int(FIRST_NAMES.length)]} ${LAST_NAMES[random.int(LAST_NAMES.length)]}`;
    const emailAddress = `${random.string(7)}@${random.string(5)}.com`;
    let creditCard = '';
    for (let i = 0; i < 4; i++) creditCard += (i > 0 ? ' ' : '') + String(random.int(10_000)).padStart(4, '0');
    const city = US_CITIES[random.int(US_CITIES.length)] as string;
    const state = US_STATES[random.int(US_STATES.length)] as string;
    return { kind: 'person', id: lastBase0PersonId(id) + FIRST_PERSON_ID, name, emailAddress, creditCard, city, state, dateTime, extra: '' };
  }

  private auction(id: number, dateTime: number, random: Random): Auction {
    let seller: number;
    if (random.int(this.hotSellersRatio) > 0) seller = Math.floor(lastBase0PersonId(id) / HOT_SELLER_RATIO) * HOT_SELLER_RATIO;
    else seller = nextBase0PersonId(id, random);
    const category = FIRST_CATEGORY_ID + random.int(NUM_CATEGORIES);
    const initialBid = nextPrice(random);
    // Auctions last up to twice the time it takes for 100 more auctions to start.
    const horizon = this.timestampOf(id + (NUM_IN_FLIGHT_AUCTIONS * PROPORTION_DENOMINATOR) / AUCTION_PROPORTION) - dateTime;
    const expires = dateTime + 1 + random.int(Math.max(horizon * 2, 1));
    return {
      kind: 'auction',
      id: lastBase0AuctionId(id) + FIRST_AUCTION_ID,
      itemName: random.string(20),
      description: random.string(100),
      initialBid,
      reserve: initialBid + nextPrice(random),
      dateTime,
      expires,
      seller: seller + FIRST_PERSON_ID,
      category,
      extra: '',
    };
  }

  private bid(id: number, dateTime: number, random: Random): Bid {
    let auction: number;
    if (random.int(this.hotAuctionRatio) > 0) auction = Math.floor(lastBase0AuctionId(id) / HOT_AUCTION_RATIO) * HOT_AUCTION_RATIO;
    else auction = nextBase0AuctionId(id, random);
    let bidder: number;
    if (random.int(this.hotBiddersRatio) > 0) bidder = Math.floor(lastBase0PersonId(id) / HOT_BIDDER_RATIO) * HOT_BIDDER_RATIO + 1;
    else bidder = nextBase0PersonId(id, random);
    const price = nextPrice(random);
    let channel: string;
    let url: string;
    if (random.int(HOT_CHANNELS_RATIO) > 0) {
      const i = random.int(HOT_CHANNELS.length);
      channel = HOT_CHANNELS[i] as string;
      url = this.hotUrls[i] as string;
    } else {
      const i = random.int(CHANNELS_NUMBER);
      channel = this.channels[i] as string;
      url = this.urls[i] as string;
    }
    return { kind: 'bid', auction: auction + FIRST_AUCTION_ID, bidder: bidder + FIRST_PERSON_ID, price, channel, url, dateTime, extra: '' };
  }
}
