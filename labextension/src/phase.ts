/**
 * What state the server's stop is in at a given moment, from the times the server sent:
 * nothing here decides a deadline, it only compares `now` with them.
 */

import { parseTime } from './clock';
import type { IServerStatus } from './statusdoc';

/** What the status item shows, besides the countdown. */
export type Phase =
  | 'loading' // no status yet
  | 'none' // nothing will stop the server
  | 'calm' // a stop is scheduled, the warning time is not reached
  | 'warning' // at or past `warn_at`
  | 'due' // at or past the deadline, the server has not stopped yet
  | 'stopped' // the deadline passed and the server no longer answers
  | 'unreachable' // the server does not answer, and no stop was due
  | 'unavailable'; // something answered, but not with a status document

/** A failed read this close before the deadline (or later) means the server stopped. */
export const STOP_SLACK_MS = 5_000;

/** What the item shows for a server status at server time `now`. */
export function phaseAt(server: IServerStatus, now: number): Phase {
  const deadline = parseTime(server.deadline);
  if (deadline === null) {
    return 'none';
  }
  if (now >= deadline) {
    return 'due';
  }
  const warnAt = parseTime(server.warn_at);
  return warnAt !== null && now >= warnAt ? 'warning' : 'calm';
}

/** Milliseconds left until the server stops, or null when nothing will stop it. */
export function remainingMs(server: IServerStatus, now: number): number | null {
  const deadline = parseTime(server.deadline);
  return deadline === null ? null : Math.max(0, deadline - now);
}

/** The phase after a status read failed at server time `now`: a failure at or near the
 * deadline is the stop; earlier, the server (or the network) is just unreachable. */
export function phaseAfterFailure(
  server: IServerStatus | null,
  now: number
): 'stopped' | 'unreachable' {
  const deadline = server ? parseTime(server.deadline) : null;
  return deadline !== null && now >= deadline - STOP_SLACK_MS
    ? 'stopped'
    : 'unreachable';
}

/**
 * The warning to show at server time `now`, identified by its deadline and reason (a new
 * key means a new warning), or null: none is due, or the deadline moved away.
 */
export function warningKey(server: IServerStatus, now: number): string | null {
  const phase = phaseAt(server, now);
  if (phase !== 'warning' && phase !== 'due') {
    return null;
  }
  return `${server.reason}@${server.deadline}`;
}
