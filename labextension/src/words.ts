/**
 * What the widget says: durations, the status-bar text and the reasons, in words for
 * people. The server sends the facts (and names the last activity's source itself); this
 * module only words them, in the user's language: every function takes the translation
 * bundle of our domain (`jupyter_cull_ext`), so language packs translate it and the unit
 * tests pass `nullTranslator`'s English one.
 */

import type { TranslationBundle } from '@jupyterlab/translation';

import { type Phase, remainingMs } from './phase';
import type {
  IKernelStatus,
  IProcessStatus,
  IServerStatus,
  ITerminalStatus,
  IsoTime
} from './statusdoc';

/** Our translation domain: language packs carry `<locale>/LC_MESSAGES/jupyter_cull_ext.json`. */
export const DOMAIN = 'jupyter_cull_ext';

/** A server time as the user's wall-clock time (the caller knows the clock offset). */
export type TimeWords = (iso: IsoTime | null) => string;

/**
 * A duration for the status bar. With seconds: `42:13`, `1:02:03`, `0:09` (rounded up, so
 * `0:00` is shown only when the time is up). Without: `43 min`, `1 h 03 min`, `< 1 min`.
 */
export function formatDuration(
  trans: TranslationBundle,
  ms: number,
  showSeconds = true
): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  if (showSeconds) {
    const total = Math.max(0, Math.ceil(ms / 1000));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    return h > 0 ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  }
  if (ms < 60_000) {
    return trans.__('< 1 min');
  }
  const minutes = Math.ceil(ms / 60_000);
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return h > 0 ? trans.__('%1 h %2 min', h, pad(m)) : trans.__('%1 min', m);
}

/** A duration given in seconds by the server or the user, for sentences: `1 h 30 min`,
 * `45 s`, `2 days`. */
export function describeSeconds(
  trans: TranslationBundle,
  seconds: number
): string {
  const s = Math.round(seconds);
  if (s < 60) {
    return trans.__('%1 s', s);
  }
  const days = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const rest = s % 60;
  const parts: string[] = [];
  if (days) {
    parts.push(trans._n('%1 day', '%1 days', days));
  }
  if (h) {
    parts.push(trans.__('%1 h', h));
  }
  if (m) {
    parts.push(trans.__('%1 min', m));
  }
  if (rest && !days && !h) {
    parts.push(trans.__('%1 s', rest));
  }
  return parts.join(' ');
}

/** The status-bar text. */
export function label(
  trans: TranslationBundle,
  phase: Phase,
  server: IServerStatus | null,
  now: number,
  showSeconds = true
): string {
  switch (phase) {
    case 'loading':
      return trans.__('Auto-stop…');
    case 'stopped':
      return trans.__('Server stopped');
    case 'unreachable':
      return trans.__('Server not responding');
    case 'unavailable':
      return trans.__('Status unavailable');
    default:
      break;
  }
  if (server === null) {
    return trans.__('Auto-stop…');
  }
  if (phase === 'none') {
    switch (server.protected_by) {
      case 'busy_kernel':
        return trans.__('No auto-stop: kernel busy');
      case 'busy_terminal':
        return trans.__('No auto-stop: terminal busy');
      case 'unknown_kernel':
        return trans.__('No auto-stop: kernel state unknown');
      default:
        return trans.__('No auto-stop');
    }
  }
  if (phase === 'due') {
    return trans.__('Stopping…');
  }
  const left = formatDuration(
    trans,
    remainingMs(server, now) ?? 0,
    showSeconds
  );
  if (server.reason === 'max_age') {
    return trans.__('Max age: stop in %1', left);
  }
  if (server.protected_by === 'keepalive') {
    return trans.__('Kept alive: stop in %1', left);
  }
  return trans.__('Idle stop in %1', left);
}

/** Why the server will stop, as a sentence ending. */
export function describeReason(
  trans: TranslationBundle,
  server: IServerStatus
): string {
  if (server.reason === 'max_age') {
    return trans.__(
      'it reaches its maximum age of %1',
      describeSeconds(trans, server.max_age)
    );
  }
  if (server.protected_by === 'keepalive') {
    return trans.__('the keep-alive ends and nothing else is happening');
  }
  return trans.__(
    'nothing has happened for %1',
    describeSeconds(trans, server.idle_timeout)
  );
}

/** Why nothing will stop the server (it has no deadline), as a sentence. */
export function describeNoDeadline(
  trans: TranslationBundle,
  server: IServerStatus
): string {
  switch (server.protected_by) {
    case 'busy_kernel':
      return trans.__(
        'Nothing will stop this server while a kernel is running code.'
      );
    case 'busy_terminal':
      return trans.__(
        'Nothing will stop this server while a command runs in a terminal.'
      );
    case 'unknown_kernel':
      return trans.__(
        "A kernel's state cannot be read now (its gateway is out of reach): nothing is stopped until it can be."
      );
    default:
      return trans.__('Nothing will stop this server automatically.');
  }
}

/** The last activity's source in words, with what it was when the server says
 * (`a command running in a terminal — terminal 1: python train.py`). The server words
 * the source itself (`last_activity_label`), in English. */
export function describeLastActivity(server: IServerStatus): string {
  const detail = server.last_activity_detail;
  return detail
    ? `${server.last_activity_label} — ${detail}`
    : server.last_activity_label;
}

/** What a terminal is doing: its foreground command, or that it waits for the keyboard. */
export function describeTerminalWork(
  trans: TranslationBundle,
  t: ITerminalStatus
): string {
  if (t.command === null) {
    return trans.__('at the prompt');
  }
  return t.waiting_for_input
    ? trans.__('waiting for your input: %1', t.command)
    : trans.__('running %1', t.command);
}

/** What becomes of a terminal, and why it is kept if it is. */
export function describeTerminalFate(
  trans: TranslationBundle,
  t: ITerminalStatus,
  at: TimeWords
): string {
  switch (t.protected_by) {
    case 'busy':
      return trans.__('kept while a command runs');
    case 'keepalive':
      return trans.__('kept alive until %1', at(t.deadline));
    default:
      break;
  }
  return t.deadline === null
    ? trans.__('never closed for idleness')
    : trans.__('closed at %1 if idle', at(t.deadline));
}

/** A kernel's state: the server's, or that it waits for an answer to `input()`. */
export function describeKernelState(
  trans: TranslationBundle,
  k: IKernelStatus,
  at: TimeWords
): string {
  if (k.waiting_for_input_since !== null) {
    return trans.__(
      'waiting for your input since %1',
      at(k.waiting_for_input_since)
    );
  }
  return kernelStates(trans)[k.execution_state] ?? k.execution_state;
}

/** Jupyter's kernel execution states in words; a state not listed is shown as sent. */
function kernelStates(trans: TranslationBundle): Record<string, string> {
  return {
    unknown: trans.__('unknown'),
    starting: trans.__('starting'),
    idle: trans.__('idle'),
    busy: trans.__('busy'),
    terminating: trans.__('terminating'),
    restarting: trans.__('restarting'),
    autorestarting: trans.__('restarting'),
    dead: trans.__('dead')
  };
}

/** A process that counted as activity: its command and the CPU it used. */
export function describeProcess(
  trans: TranslationBundle,
  p: IProcessStatus
): string {
  const cores = p.cpu.toFixed(2);
  return p.cpu === 1
    ? trans.__('%1 (pid %2): %3 core', p.command, p.pid, cores)
    : trans.__('%1 (pid %2): %3 cores', p.command, p.pid, cores);
}

/** The heads-up before a kernel open here is culled; one waiting for `input()` is named as
 * such, since answering the prompt keeps it. */
export function describeKernelHeadsUp(
  trans: TranslationBundle,
  k: IKernelStatus,
  path: string,
  at: TimeWords
): string {
  const when = at(k.deadline);
  if (k.waiting_for_input_since !== null) {
    // Short: JupyterLab cuts a notification's text at 140 characters.
    return trans.__(
      'The kernel of %1 is waiting for your input: answer the prompt, or it is shut down at %2.',
      path,
      when
    );
  }
  return trans.__(
    'The idle kernel of %1 will be shut down at %2; its variables will be lost.',
    path,
    when
  );
}

/** Why a keep-alive of `seconds` cannot be asked for, or null if it can. */
export function keepaliveRefusal(
  trans: TranslationBundle,
  seconds: number,
  keepaliveMax: number
): string | null {
  if (keepaliveMax <= 0) {
    return trans.__('Keep-alive is disabled on this server.');
  }
  if (!Number.isFinite(seconds) || seconds <= 0) {
    return trans.__('Enter a duration greater than zero.');
  }
  if (seconds > keepaliveMax) {
    return trans.__(
      'The longest keep-alive allowed here is %1.',
      describeSeconds(trans, keepaliveMax)
    );
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
