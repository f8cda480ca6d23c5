/**
 * Pure countdown logic: reading the server's times, correcting for clock skew, formatting
 * what is left, and deciding when to warn, save and poll.
 *
 * Nothing here decides a deadline: the server did. This module only turns the server's
 * answer and a clock reading into what to show and when to act. No DOM, no I/O.
 */

import type { IKernelStatus, IServerStatus, IStatus, IsoTime } from './api';

/** What the status item shows, besides the countdown. */
export type Phase =
  | 'loading' // no status yet
  | 'none' // nothing will stop the server
  | 'calm' // a stop is scheduled, the warning time is not reached
  | 'warning' // at or past `warn_at`
  | 'due' // at or past the deadline, the server has not stopped yet
  | 'stopped' // the deadline passed and the server no longer answers
  | 'unreachable'; // the server does not answer, and no stop was due

/** Longest time between two status reads while nothing changes. */
export const MAX_POLL_MS = 60_000;
/** Shortest time between two status reads. */
export const MIN_POLL_MS = 1_000;
/** A failed read this close before the deadline (or later) means the server stopped. */
export const STOP_SLACK_MS = 5_000;

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

/**
 * A duration for the status bar. With seconds: `42:13`, `1:02:03`, `0:09` (rounded up, so
 * `0:00` is shown only when the time is up). Without: `43 min`, `1 h 03 min`, `< 1 min`.
 */
export function formatDuration(ms: number, showSeconds = true): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  if (showSeconds) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  }
  if (ms < 60_000) {
    return '< 1 min';
  }
  const minutes = Math.ceil(ms / 60_000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h > 0 ? `${h} h ${pad(m)} min` : `${m} min`;
}

/** A duration given in seconds by the server or the user, for sentences: `1 h 30 min`,
 * `45 s`, `2 days`. */
export function describeSeconds(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) {
    return `${s} s`;
  }
  const days = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  const parts: string[] = [];
  if (days) {
    parts.push(days === 1 ? '1 day' : `${days} days`);
  }
  if (h) {
    parts.push(`${h} h`);
  }
  if (m) {
    parts.push(`${m} min`);
  }
  if (rest && !days && !h) {
    parts.push(`${rest} s`);
  }
  return parts.join(' ');
}

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

/** The status-bar text. */
export function label(
  phase: Phase,
  server: IServerStatus | null,
  now: number,
  showSeconds = true
): string {
  switch (phase) {
    case 'loading':
      return 'Auto-stop…';
    case 'stopped':
      return 'Server stopped';
    case 'unreachable':
      return 'Server not responding';
    default:
      break;
  }
  if (server === null) {
    return 'Auto-stop…';
  }
  if (phase === 'none') {
    return server.protected_by === 'busy_kernel'
      ? 'No auto-stop: kernel busy'
      : 'No auto-stop';
  }
  if (phase === 'due') {
    return 'Stopping…';
  }
  const left = formatDuration(remainingMs(server, now) ?? 0, showSeconds);
  if (server.reason === 'max_age') {
    return `Max age: stop in ${left}`;
  }
  if (server.protected_by === 'keepalive') {
    return `Kept alive: stop in ${left}`;
  }
  return `Idle stop in ${left}`;
}

/** What a last-activity source means, for people. */
export function describeSource(source: string): string {
  switch (source) {
    case 'presence':
      return 'someone using JupyterLab';
    case 'kernel':
      return 'a kernel (running code, completion, widgets)';
    case 'busy_kernel':
      return 'a kernel running code right now';
    case 'terminal':
      return 'a terminal';
    case 'user_api':
      return 'a save, upload or other action';
    case 'keepalive':
      return 'a keep-alive';
    case 'server_start':
      return 'the server starting';
    default:
      return source.startsWith('extension:')
        ? `another extension (${source.slice('extension:'.length)})`
        : source;
  }
}

/** Why the server will stop, as a sentence ending. */
export function describeReason(server: IServerStatus): string {
  if (server.reason === 'max_age') {
    return `it reaches its maximum age of ${describeSeconds(server.max_age)}`;
  }
  if (server.protected_by === 'keepalive') {
    return 'the keep-alive ends and nothing else is happening';
  }
  return `nothing has happened for ${describeSeconds(server.idle_timeout)}`;
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

/** How long before the stop dirty documents are saved: half the warning time, between 2 and
 * 15 seconds (long enough for a save to finish, short enough to catch late edits). */
export function autosaveLeadMs(warnBeforeSeconds: number): number {
  return Math.min(15_000, Math.max(2_000, (warnBeforeSeconds * 1000) / 2));
}

/** When dirty documents are to be saved before the stop, or null. */
export function autosaveAt(server: IServerStatus): number | null {
  const deadline = parseTime(server.deadline);
  return deadline === null
    ? null
    : deadline - autosaveLeadMs(server.warn_before);
}

/** How long before its culling a kernel of an open notebook gets a heads-up: the server's
 * warning time, at most half the kernel's timeout. */
export function kernelLeadMs(
  warnBeforeSeconds: number,
  kernelTimeout: number
): number {
  const lead = warnBeforeSeconds * 1000;
  return kernelTimeout > 0 ? Math.min(lead, (kernelTimeout * 1000) / 2) : lead;
}

/**
 * Kernels, among those open in this browser, that are about to be culled on their own:
 * idle with a deadline within the heads-up lead, and earlier than the server's stop (which
 * has its own warning and takes every kernel with it).
 */
export function kernelsToWarn(
  status: IStatus,
  now: number,
  openKernels: ReadonlySet<string>
): IKernelStatus[] {
  const serverDeadline = parseTime(status.server.deadline);
  return status.kernels.filter(k => {
    const deadline = parseTime(k.deadline);
    if (!openKernels.has(k.id) || k.reason !== 'idle' || deadline === null) {
      return false;
    }
    if (serverDeadline !== null && deadline + 1000 >= serverDeadline) {
      return false;
    }
    const lead = kernelLeadMs(status.server.warn_before, k.timeout);
    return now >= deadline - lead && now < deadline;
  });
}

/** Times (server clock) at which something changes for this browser: the warning, the
 * autosave, the stop, and kernel heads-ups and deadlines. */
export function eventTimes(
  status: IStatus,
  openKernels: ReadonlySet<string>
): number[] {
  const s = status.server;
  const times = [parseTime(s.warn_at), autosaveAt(s), parseTime(s.deadline)];
  for (const k of status.kernels) {
    const deadline = parseTime(k.deadline);
    if (openKernels.has(k.id) && deadline !== null) {
      times.push(deadline - kernelLeadMs(s.warn_before, k.timeout), deadline);
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

/** Why a keep-alive of `seconds` cannot be asked for, or null if it can. */
export function keepaliveRefusal(
  seconds: number,
  keepaliveMax: number
): string | null {
  if (keepaliveMax <= 0) {
    return 'Keep-alive is disabled on this server.';
  }
  if (!Number.isFinite(seconds) || seconds <= 0) {
    return 'Enter a duration greater than zero.';
  }
  if (seconds > keepaliveMax) {
    return `The longest keep-alive allowed here is ${describeSeconds(keepaliveMax)}.`;
  }
  return null;
}

/** The JupyterHub home page, when running under JupyterHub (`hubPrefix` set), else null. */
export function hubHomeUrl(hubHost: string, hubPrefix: string): string | null {
  if (!hubPrefix) {
    return null;
  }
  return hubHost + hubPrefix + (hubPrefix.endsWith('/') ? '' : '/') + 'home';
}
