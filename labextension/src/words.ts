/**
 * What the widget says: durations, the status-bar text and the reasons, in words for
 * people. The server sends the facts (and names the last activity's source itself); this
 * module only words them.
 */

import { type Phase, remainingMs } from './phase';
import type { IServerStatus } from './statusdoc';

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
    case 'unavailable':
      return 'Status unavailable';
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
