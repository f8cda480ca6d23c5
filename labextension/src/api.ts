/**
 * Typed calls to the server extension's endpoints.
 *
 * The types of the status document are generated from its JSON Schema (`statusdoc.ts`),
 * and every answer is checked against that schema before it is used (`statuscheck.ts`):
 * the server decides every deadline, reason and moment; this module only carries them.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { statusMismatch } from './statuscheck';
import type { IStatus } from './statusdoc';

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

/** The server answered with something that is not a status document (an older server,
 * a proxy's error page, a hub page for a server that is gone). */
export class NotStatusError extends CullApiError {
  constructor(status: number, why: string) {
    super(status, `not a cull status document (${why})`);
    this.name = 'NotStatusError';
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
  const why = statusMismatch(body);
  if (why !== null) {
    throw new NotStatusError(response.status, why);
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
