/**
 * The click stream: pages × users at a chosen rate, with event times that
 * trail the wall clock by a random delay (disorder), a share of events
 * delayed past the watermark (late), and bursts of very late events.
 */
import type { Click } from './pipeline.js';

export interface GeneratorSettings {
  /** Events per second. */
  rate: number;
  /** Largest ordinary delay of an event time behind the wall clock, ms. */
  disorder: number;
  /** Share (0–1) of events delayed beyond the watermark. */
  behindShare: number;
}

export const PAGES = ['/home', '/pricing', '/docs', '/blog', '/signup'] as const;
const USERS = Array.from({ length: 12 }, (_, i) => `u${i + 1}`);

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)] as T;
/** A skewed page choice, so counts differ between pages. */
const page = () => PAGES[Math.min(PAGES.length - 1, Math.floor(Math.random() ** 1.6 * PAGES.length))] as string;

/** One click that happened `delay` ms before `now`. */
export function click(now: number, delay: number): Click {
  return { page: page(), user: pick(USERS), ts: Math.round(now - delay), dwell: 200 + Math.floor(Math.random() * 9_800) };
}

/**
 * Calls `emit` about every 100 ms with the clicks due by then. `late` delays are
 * drawn beyond `lateFrom` ms (the watermark bound) by up to `lateSpread` ms.
 */
export function startGenerator(
  settings: GeneratorSettings,
  lateRange: () => { from: number; spread: number },
  emit: (clicks: Click[]) => void,
): { stop(): void } {
  let due = 0;
  let last = Date.now();
  const timer = setInterval(() => {
    // By the time elapsed, not by ticks: a busy page delays ticks, and the rate must hold anyway.
    const now = Date.now();
    due += (settings.rate * Math.min(1_000, now - last)) / 1_000;
    last = now;
    const n = Math.floor(due);
    due -= n;
    if (n === 0) return;
    const { from, spread } = lateRange();
    const out: Click[] = [];
    for (let i = 0; i < n; i++) {
      const late = Math.random() < settings.behindShare;
      out.push(click(now, late ? from + Math.random() * spread : Math.random() * settings.disorder));
    }
    emit(out);
  }, 100);
  return { stop: () => clearInterval(timer) };
}

/** `n` very late clicks: 20 to 60 s old, as from a phone back from a tunnel. */
export function lateBurst(n: number): Click[] {
  const now = Date.now();
  return Array.from({ length: n }, () => click(now, 20_000 + Math.random() * 40_000));
}
