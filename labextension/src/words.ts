/**
 * What the widget says: durations, the status-bar text and the reasons, in words for
 * people. The server sends the facts (and names the last activity's source itself); this
 * module only words them.
 */

import { type Phase, remainingMs } from './phase';
import type {
  IKernelStatus,
  IProcessStatus,
  IServerStatus,
  ITerminalStatus,
  IsoTime
} from './statusdoc';

/** A server time as the user's wall-clock time (the caller knows the clock offset). */
export type TimeWords = (iso: IsoTime | null) => string;

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
    switch (server.protected_by) {
      case 'busy_kernel':
        return 'No auto-stop: kernel busy';
      case 'busy_terminal':
        return 'No auto-stop: terminal busy';
      case 'unknown_kernel':
        return 'No auto-stop: kernel state unknown';
      default:
        return 'No auto-stop';
    }
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

/** Why nothing will stop the server (it has no deadline), as a sentence. */
export function describeNoDeadline(server: IServerStatus): string {
  switch (server.protected_by) {
    case 'busy_kernel':
      return 'Nothing will stop this server while a kernel is running code.';
    case 'busy_terminal':
      return 'Nothing will stop this server while a command runs in a terminal.';
    case 'unknown_kernel':
      return (
        "A kernel's state cannot be read now (its gateway is out of reach): nothing is " +
        'stopped until it can be.'
      );
    default:
      return 'Nothing will stop this server automatically.';
  }
}

/** The last activity's source in words, with what it was when the server says
 * (`a command running in a terminal — terminal 1: python train.py`). */
export function describeLastActivity(server: IServerStatus): string {
  const detail = server.last_activity_detail;
  return detail
    ? `${server.last_activity_label} — ${detail}`
    : server.last_activity_label;
}

/** What a terminal is doing: its foreground command, or that it waits for the keyboard. */
export function describeTerminalWork(t: ITerminalStatus): string {
  if (t.command === null) {
    return 'at the prompt';
  }
  return t.waiting_for_input
    ? `waiting for your input: ${t.command}`
    : `running ${t.command}`;
}

/** What becomes of a terminal, and why it is kept if it is. */
export function describeTerminalFate(
  t: ITerminalStatus,
  at: TimeWords
): string {
  switch (t.protected_by) {
    case 'busy':
      return 'kept while a command runs';
    case 'keepalive':
      return `kept alive until ${at(t.deadline)}`;
    default:
      break;
  }
  return t.deadline === null
    ? 'never closed for idleness'
    : `closed at ${at(t.deadline)} if idle`;
}

/** A kernel's state: the server's, or that it waits for an answer to `input()`. */
export function describeKernelState(k: IKernelStatus, at: TimeWords): string {
  return k.waiting_for_input_since === null
    ? k.execution_state
    : `waiting for your input since ${at(k.waiting_for_input_since)}`;
}

/** A process that counted as activity: its command and the CPU it used. */
export function describeProcess(p: IProcessStatus): string {
  const cores = p.cpu.toFixed(2);
  return `${p.command} (pid ${p.pid}): ${cores} ${p.cpu === 1 ? 'core' : 'cores'}`;
}

/** The heads-up before a kernel open here is culled; one waiting for `input()` is named as
 * such, since answering the prompt keeps it. */
export function describeKernelHeadsUp(
  k: IKernelStatus,
  path: string,
  at: TimeWords
): string {
  const when = at(k.deadline);
  if (k.waiting_for_input_since !== null) {
    // Short: JupyterLab cuts a notification's text at 140 characters.
    return `The kernel of ${path} is waiting for your input: answer the prompt, or it is shut down at ${when}.`;
  }
  return `The idle kernel of ${path} will be shut down at ${when}; its variables will be lost.`;
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
