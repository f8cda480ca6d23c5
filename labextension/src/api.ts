/**
 * Typed calls to the server extension's endpoints.
 *
 * The types mirror the JSON of `GET api/cull/status` exactly as the server writes it
 * (`jupyter_cull_ext/policy.py`, `document()`): the server decides every deadline and
 * reason; this module only carries them.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** ISO 8601 UTC time with a `Z`, e.g. `2025-01-01T12:00:00.000Z`. */
export type IsoTime = string;

/** Why the server will stop: nothing counted for `idle_timeout`, or it reached `max_age`. */
export type ServerReason = 'idle' | 'max_age';

/** The `server` part of the status document. */
export interface IServerStatus {
  /** When the server stops (the earlier of `idle_deadline` and `max_age_deadline`). */
  deadline: IsoTime | null;
  reason: ServerReason | null;
  /** When users are to be warned: `deadline - warn_before`. */
  warn_at: IsoTime | null;
  /** Seconds; 0 = the server never stops for idleness. */
  idle_timeout: number;
  idle_deadline: IsoTime | null;
  /** Seconds after `started`; 0 = no max age. */
  max_age: number;
  max_age_deadline: IsoTime | null;
  started: IsoTime | null;
  last_activity: IsoTime;
  /** `presence`, `kernel`, `busy_kernel`, `terminal`, `user_api`, `keepalive`,
   * `server_start` or `extension:<key>`. */
  last_activity_source: string;
  /** What holds the idle deadline off: a busy kernel (no deadline) or a keep-alive. */
  protected_by: 'busy_kernel' | 'keepalive' | null;
  keepalive_until: IsoTime | null;
  /** Seconds: the longest keep-alive the operator allows; 0 = keep-alive disabled. */
  keepalive_max: number;
  /** Seconds of warning before a stop. */
  warn_before: number;
}

/** One kernel in the status document. */
export interface IKernelStatus {
  id: string;
  name: string;
  execution_state: string;
  connections: number;
  last_activity: IsoTime;
  /** Seconds; 0 = this kernel is never culled for idleness. */
  timeout: number;
  deadline: IsoTime | null;
  reason: 'idle' | 'dead' | null;
  protected_by: 'busy' | 'connected' | 'keepalive' | null;
}

/** One terminal in the status document. */
export interface ITerminalStatus {
  name: string;
  last_activity: IsoTime;
  timeout: number;
  deadline: IsoTime | null;
  protected_by: 'keepalive' | null;
}

/** Effective kernel and terminal culling settings. */
export interface ICullSettings {
  kernel_timeout: number;
  cull_busy: boolean;
  cull_connected: boolean;
  terminal_timeout: number;
}

/** Activity reporting to JupyterHub. */
export interface IHubStatus {
  reporting: boolean;
  interval?: number | null;
  last_report?: IsoTime | null;
  last_report_ok?: boolean | null;
  last_error?: string | null;
}

/** The document `GET api/cull/status` (and both POST endpoints) answer with. */
export interface IStatus {
  now: IsoTime;
  server: IServerStatus;
  kernels: IKernelStatus[];
  terminals: ITerminalStatus[];
  settings: ICullSettings;
  hub: IHubStatus;
}

/** A status document with the local clock readings around the request that fetched it. */
export interface ITimedStatus {
  status: IStatus;
  /** `Date.now()` when the request was sent and when its answer arrived. */
  sentAt: number;
  receivedAt: number;
}

/** The server answered, but with an error (`message` is the server's own words). */
export class CullApiError extends Error {
  constructor(
    readonly status: number,
    message: string
  ) {
    super(message);
    this.name = 'CullApiError';
  }
}

/** Header that marks a request as made by this extension's pre-stop autosave: the server
 * must not count such a request as activity. */
export const AUTOSAVE_HEADER = 'X-Jupyter-Cull-Autosave';

async function request(
  settings: ServerConnection.ISettings,
  endpoint: 'status' | 'activity' | 'keepalive',
  init: RequestInit = {}
): Promise<ITimedStatus> {
  const url = URLExt.join(settings.baseUrl, 'api/cull', endpoint);
  const sentAt = Date.now();
  // Rejects with ServerConnection.NetworkError when the server cannot be reached.
  const response = await ServerConnection.makeRequest(url, init, settings);
  const receivedAt = Date.now();
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message =
      body !== null && typeof body === 'object' && 'message' in body
        ? String((body as { message: unknown }).message)
        : `${response.status} ${response.statusText}`;
    throw new CullApiError(response.status, message);
  }
  if (body === null || typeof body !== 'object' || !('server' in body)) {
    // E.g. a hub page answering for a server that is gone.
    throw new CullApiError(response.status, 'not a cull status document');
  }
  return { status: body as IStatus, sentAt, receivedAt };
}

/** `GET api/cull/status`. Never counts as activity. */
export function fetchStatus(
  settings: ServerConnection.ISettings
): Promise<ITimedStatus> {
  return request(settings, 'status');
}

/** `POST api/cull/activity`: a person is here. */
export function reportPresence(
  settings: ServerConnection.ISettings
): Promise<ITimedStatus> {
  return request(settings, 'activity', { method: 'POST', body: '{}' });
}

/** `POST api/cull/keepalive`: keep the server up for `seconds` from now (0 cancels).
 * Rejects with a `CullApiError` carrying the server's message above the cap. */
export function keepAlive(
  settings: ServerConnection.ISettings,
  seconds: number
): Promise<ITimedStatus> {
  return request(settings, 'keepalive', {
    method: 'POST',
    body: JSON.stringify({ seconds })
  });
}
