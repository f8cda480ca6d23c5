/**
 * The server's clock, seen from the browser: reading its times and correcting for the
 * offset between its clock and ours, so the countdown shows the server's deadline.
 */

import type { IsoTime } from './statusdoc';

/** Milliseconds since the epoch, or null. */
export function parseTime(iso: IsoTime | null | undefined): number | null {
  if (!iso) {
    return null;
  }
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

/**
 * How far the server's clock is ahead of ours (ms), from one request: the server read its
 * clock (`now`) somewhere between our `sentAt` and `receivedAt`; the midpoint is the best
 * guess, wrong by at most half the round trip.
 */
export function clockOffset(
  serverNow: IsoTime,
  sentAt: number,
  receivedAt: number
): number {
  const server = parseTime(serverNow);
  if (server === null) {
    return 0;
  }
  return server - (sentAt + receivedAt) / 2;
}

/** How long a clock-offset sample is trusted (our clock and the server's may drift). */
export const CLOCK_SAMPLE_TTL_MS = 10 * 60_000;

/**
 * The clock offset from the most precise recent sample. A sample is off by at most half its
 * round trip, so on a busy server one slow answer would make the countdown jump; the
 * quickest answer of the last few minutes is kept instead.
 */
export class ClockSync {
  /** Milliseconds the server's clock is ahead of ours (0 before any sample). */
  get offset(): number {
    return this._best?.offset ?? 0;
  }

  /** Add the sample of one request; returns the offset now in use. */
  update(serverNow: IsoTime, sentAt: number, receivedAt: number): number {
    const sample = {
      offset: clockOffset(serverNow, sentAt, receivedAt),
      rtt: Math.max(0, receivedAt - sentAt),
      at: receivedAt
    };
    const best = this._best;
    if (
      best === null ||
      sample.rtt <= best.rtt ||
      receivedAt - best.at > CLOCK_SAMPLE_TTL_MS
    ) {
      this._best = sample;
    }
    return this.offset;
  }

  private _best: { offset: number; rtt: number; at: number } | null = null;
}

/** The server's time now, given our clock and the offset. */
export function serverTime(localNow: number, offset: number): number {
  return localNow + offset;
}
