/**
 * When this browser acts: which kernel heads-ups are due, when to save, and when to read
 * the status again. Every moment is one the server sent (`autosave_at`, `heads_up_at`,
 * `warn_at`, deadlines); this module only compares `now` with them.
 */

import { parseTime } from './clock';
import type { IKernelStatus, IServerStatus, IStatus } from './statusdoc';

/** Longest time between two status reads while nothing changes. */
export const MAX_POLL_MS = 60_000;
/** Shortest time between two status reads. */
export const MIN_POLL_MS = 1_000;

/** When dirty documents are to be saved before the stop, or null. */
export function autosaveAt(server: IServerStatus): number | null {
  return parseTime(server.autosave_at);
}

/**
 * Kernels, among those open in this browser, whose heads-up is due at `now`: the server
 * gives one (`heads_up_at`) to idle kernels culled before the server's own stop.
 */
export function kernelsToWarn(
  status: IStatus,
  now: number,
  openKernels: ReadonlySet<string>
): IKernelStatus[] {
  return status.kernels.filter(k => {
    const headsUp = parseTime(k.heads_up_at);
    const deadline = parseTime(k.deadline);
    return (
      openKernels.has(k.id) &&
      headsUp !== null &&
      deadline !== null &&
      now >= headsUp &&
      now < deadline
    );
  });
}

/** Times (server clock) at which something changes for this browser: the warning, the
 * autosave, the stop, and kernel heads-ups and deadlines. */
export function eventTimes(
  status: IStatus,
  openKernels: ReadonlySet<string>
): number[] {
  const s = status.server;
  const times = [
    parseTime(s.warn_at),
    parseTime(s.autosave_at),
    parseTime(s.deadline)
  ];
  for (const k of status.kernels) {
    if (openKernels.has(k.id)) {
      times.push(parseTime(k.heads_up_at), parseTime(k.deadline));
    }
  }
  return times.filter((t): t is number => t !== null);
}

/**
 * When to read the status again (ms from now). At most once a minute while nothing is
 * near; as an event approaches, halfway to it, so a deadline moved by activity elsewhere
 * (another tab, a kernel) is seen in time; right after it; and every second past the stop
 * until the server is gone.
 */
export function nextPollDelay(events: number[], now: number): number {
  const clamp = (ms: number) =>
    Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, ms));
  const future = events.filter(t => t > now);
  if (future.length === 0) {
    // Nothing ahead. Past a deadline: until the server is seen gone, look every second.
    return events.length > 0 && Math.max(...events) > now - 60_000
      ? MIN_POLL_MS
      : MAX_POLL_MS;
  }
  const next = Math.min(...future) - now;
  return Math.round(clamp(next <= 2_000 ? next + 500 : next / 2));
}
