/**
 * The details popup (every deadline and why, keep-alive, kernels, terminals and the
 * processes that counted as work) and the
 * sentences it shares with the status-bar item.
 */

import { VDomRenderer } from '@jupyterlab/apputils';
import React from 'react';

import { parseTime } from './clock';
import type { CullModel } from './model';
import type {
  IKernelStatus,
  IProcessStatus,
  IServerStatus,
  ITerminalStatus,
  IsoTime
} from './statusdoc';
import {
  describeKernelState,
  describeLastActivity,
  describeNoDeadline,
  describeProcess,
  describeReason,
  describeSeconds,
  describeTerminalFate,
  describeTerminalWork,
  formatDuration
} from './words';

/** What the item's buttons do. */
export interface IStatusActions {
  askKeepalive: () => Promise<unknown>;
  cancelKeepalive: () => Promise<unknown>;
  /** Kernel id → document path, for the documents open in this browser. */
  openKernels: () => Map<string, string>;
  /** The hub's home page, or null outside JupyterHub. */
  hubHome: string | null;
}

/** A time on the server's clock as local wall-clock time (with the date if not today). */
export function when(model: CullModel, iso: IsoTime | null): string {
  const t = parseTime(iso);
  if (t === null) {
    return '—';
  }
  const local = new Date(model.toLocal(t));
  return local.toDateString() === new Date().toDateString()
    ? local.toLocaleTimeString()
    : local.toLocaleString();
}

/** "in 4:10" / "4:10 ago". */
function relative(model: CullModel, iso: IsoTime | null): string {
  const t = parseTime(iso);
  if (t === null) {
    return '';
  }
  const d = t - model.now();
  const text = formatDuration(Math.abs(d), model.showSeconds);
  return d >= 0 ? `in ${text}` : `${text} ago`;
}

/** One sentence about the server's stop, for the tooltip and the popup. */
export function summary(model: CullModel, hubHome: string | null): string {
  const status = model.status;
  switch (model.phase) {
    case 'stopped':
      return hubHome
        ? 'This server has stopped. Start it again from the hub home page.'
        : 'This server has stopped.';
    case 'unreachable':
      return 'The server does not answer; it may have been stopped or the network is down.';
    case 'unavailable':
      return "The server's answer is not a status this extension understands (an older server, or an error page on the way); trying again.";
    case 'loading':
      return 'Reading when this server will stop…';
    default:
      break;
  }
  if (status === null) {
    return '';
  }
  const s = status.server;
  if (s.deadline === null) {
    return describeNoDeadline(s);
  }
  return `This server stops at ${when(model, s.deadline)}, when ${describeReason(s)}.`;
}

/** The details popup: every deadline and why, keep-alive, kernels, terminals, processes. */
export class CullDetails extends VDomRenderer<CullModel> {
  constructor(
    model: CullModel,
    private readonly actions: IStatusActions
  ) {
    super(model);
    this.addClass('jp-CullExt-details');
  }

  render(): JSX.Element {
    const model = this.model;
    const status = model.phase === 'unavailable' ? null : model.status;
    const hubHome = this.actions.hubHome;
    return (
      <div className="jp-CullExt-details-body">
        <h3 className="jp-CullExt-details-title">Automatic stop</h3>
        <p className="jp-CullExt-summary">{summary(model, hubHome)}</p>
        {model.phase === 'stopped' && hubHome ? (
          <p>
            <a className="jp-CullExt-link" href={hubHome}>
              Open the hub home page
            </a>
          </p>
        ) : null}
        {status && model.phase !== 'stopped'
          ? this._server(status.server)
          : null}
        {status && status.kernels.length > 0
          ? this._kernels(status.kernels)
          : null}
        {status && status.terminals.length > 0
          ? this._terminals(status.terminals)
          : null}
        {status && status.processes.length > 0
          ? processes(status.processes)
          : null}
      </div>
    );
  }

  private _server(s: IServerStatus): JSX.Element {
    const model = this.model;
    const keepaliveActive = s.keepalive_until !== null;
    return (
      <dl className="jp-CullExt-facts">
        {s.deadline !== null ? (
          <>
            <dt>Stops</dt>
            <dd>
              {when(model, s.deadline)} ({relative(model, s.deadline)})
              {s.warn_at !== null
                ? `; warning at ${when(model, s.warn_at)}`
                : ''}
            </dd>
          </>
        ) : null}
        <dt>Last activity</dt>
        <dd>
          {when(model, s.last_activity)} ({relative(model, s.last_activity)}):{' '}
          {describeLastActivity(s)}
        </dd>
        <dt>Idle timeout</dt>
        <dd>{s.idle_timeout > 0 ? describeSeconds(s.idle_timeout) : 'none'}</dd>
        <dt>Keep-alive</dt>
        <dd>
          {s.keepalive_max <= 0 ? (
            'disabled on this server'
          ) : keepaliveActive ? (
            <>
              until {when(model, s.keepalive_until)}{' '}
              <button
                className="jp-CullExt-button"
                onClick={() => void this.actions.cancelKeepalive()}
              >
                Cancel
              </button>
            </>
          ) : (
            <>
              off{' '}
              <button
                className="jp-CullExt-button jp-CullExt-keepalive-button"
                onClick={() => void this.actions.askKeepalive()}
              >
                Keep alive for …
              </button>{' '}
              <span className="jp-CullExt-cap">
                (up to {describeSeconds(s.keepalive_max)})
              </span>
            </>
          )}
        </dd>
        <dt>Maximum age</dt>
        <dd>
          {s.max_age > 0
            ? `${describeSeconds(s.max_age)}, reached at ${when(model, s.max_age_deadline)}`
            : 'none'}
        </dd>
      </dl>
    );
  }

  private _kernels(kernels: IKernelStatus[]): JSX.Element {
    const open = this.actions.openKernels();
    return table(
      'Kernels',
      kernels.map(k => (
        <tr key={k.id}>
          <td>{open.get(k.id) ?? k.name}</td>
          <td>{describeKernelState(k, iso => when(this.model, iso))}</td>
          <td>{this._kernelFate(k)}</td>
        </tr>
      ))
    );
  }

  private _kernelFate(k: IKernelStatus): string {
    const model = this.model;
    switch (k.protected_by) {
      case 'busy':
        return 'kept while running code';
      case 'connected':
        return 'kept while open';
      case 'keepalive':
        return `kept alive until ${when(model, k.deadline)}`;
      case 'unknown':
        return 'state unknown (gateway out of reach): not shut down until it is known';
      default:
        break;
    }
    if (k.deadline === null) {
      return 'never shut down for idleness';
    }
    if (k.reason === 'dead') {
      return 'dead: being removed';
    }
    return `shut down at ${when(model, k.deadline)} (${relative(model, k.deadline)}) if idle`;
  }

  private _terminals(terminals: ITerminalStatus[]): JSX.Element {
    const model = this.model;
    return table(
      'Terminals',
      terminals.map(t => (
        <tr key={t.name} className="jp-CullExt-terminal">
          <td>Terminal {t.name}</td>
          <td>{describeTerminalWork(t)}</td>
          <td>active {relative(model, t.last_activity)}</td>
          <td>{describeTerminalFate(t, iso => when(model, iso))}</td>
        </tr>
      ))
    );
  }
}

/** The processes that counted as work at the server's last sample. */
function processes(list: IProcessStatus[]): JSX.Element {
  return table(
    'Processes',
    list.map(p => (
      <tr key={p.pid}>
        <td>{describeProcess(p)}</td>
      </tr>
    ))
  );
}

/** A titled table of the popup (kernels, terminals, processes). */
function table(title: string, rows: JSX.Element[]): JSX.Element {
  return (
    <>
      <h4 className="jp-CullExt-details-subtitle">{title}</h4>
      <table className="jp-CullExt-table">
        <tbody>{rows}</tbody>
      </table>
    </>
  );
}
