/**
 * The status-bar item (a `TextItem` with the countdown) and its details popup.
 */

import { VDomRenderer } from '@jupyterlab/apputils';
import { showPopup, TextItem, type Popup } from '@jupyterlab/statusbar';
import type { Message } from '@lumino/messaging';
import React from 'react';

import type {
  IKernelStatus,
  IServerStatus,
  ITerminalStatus,
  IsoTime
} from './api';
import {
  describeReason,
  describeSeconds,
  describeSource,
  formatDuration,
  label,
  parseTime,
  type Phase
} from './countdown';
import type { CullModel } from './model';

/** What the item's buttons do. */
export interface IStatusActions {
  askKeepalive: () => Promise<unknown>;
  cancelKeepalive: () => Promise<unknown>;
  /** Kernel id → document path, for the documents open in this browser. */
  openKernels: () => Map<string, string>;
  /** The hub's home page, or null outside JupyterHub. */
  hubHome: string | null;
}

const PHASE_CLASSES: Phase[] = [
  'loading',
  'none',
  'calm',
  'warning',
  'due',
  'stopped',
  'unreachable'
];

/** A time on the server's clock as local wall-clock time (with the date if not today). */
function when(model: CullModel, iso: IsoTime | null): string {
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
    if (s.protected_by === 'busy_kernel') {
      return 'Nothing will stop this server while a kernel is running code.';
    }
    return 'Nothing will stop this server automatically.';
  }
  return `This server stops at ${when(model, s.deadline)}, when ${describeReason(s)}.`;
}

/** The status-bar item. */
export class CullStatus extends VDomRenderer<CullModel> {
  constructor(
    model: CullModel,
    private readonly actions: IStatusActions
  ) {
    super(model);
    this.addClass('jp-CullExt-item');
    this.node.setAttribute('role', 'button');
    this.node.setAttribute('tabindex', '0');
    this.node.addEventListener('click', this._onClick);
    this.node.addEventListener('keydown', this._onKeydown);
  }

  render(): JSX.Element {
    const model = this.model;
    const phase = model.phase;
    const server = model.status?.server ?? null;
    const text = label(phase, server, model.now(), model.showSeconds);
    const hubHome = this.actions.hubHome;
    const lastActivity = server
      ? `\nLast activity: ${when(model, server.last_activity)}, ${describeSource(
          server.last_activity_source
        )}.`
      : '';
    const title = `${summary(model, hubHome)}${phase === 'stopped' ? '' : lastActivity}\nClick for details.`;
    return (
      <>
        <TextItem className="jp-CullExt-text" source={text} title={title} />
        {phase === 'stopped' && hubHome ? (
          <a
            className="jp-CullExt-link"
            href={hubHome}
            title="Start your server again from JupyterHub"
            onClick={event => event.stopPropagation()}
          >
            Hub home
          </a>
        ) : null}
      </>
    );
  }

  protected onUpdateRequest(msg: Message): void {
    const phase = this.model.phase;
    for (const p of PHASE_CLASSES) {
      this.toggleClass(`jp-CullExt-${p}`, p === phase);
    }
    super.onUpdateRequest(msg);
  }

  dispose(): void {
    this._popup?.dispose();
    super.dispose();
  }

  /** Open (or close) the details popup. */
  toggleDetails(): void {
    if (this._popup && !this._popup.isDisposed) {
      this._popup.dispose();
      this._popup = null;
      return;
    }
    this._popup = showPopup({
      body: new CullDetails(this.model, this.actions),
      anchor: this,
      align: 'right',
      hasDynamicSize: true
    });
  }

  private _onClick = (): void => {
    this.toggleDetails();
  };

  private _onKeydown = (event: KeyboardEvent): void => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this.toggleDetails();
    }
  };

  private _popup: Popup | null = null;
}

/** The details popup: every deadline and why, keep-alive, kernels and terminals. */
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
    const status = model.status;
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
          {describeSource(s.last_activity_source)}
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
    return (
      <>
        <h4 className="jp-CullExt-details-subtitle">Kernels</h4>
        <table className="jp-CullExt-table">
          <tbody>
            {kernels.map(k => (
              <tr key={k.id}>
                <td>{open.get(k.id) ?? k.name}</td>
                <td>{k.execution_state}</td>
                <td>{this._kernelFate(k)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </>
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
    return (
      <>
        <h4 className="jp-CullExt-details-subtitle">Terminals</h4>
        <table className="jp-CullExt-table">
          <tbody>
            {terminals.map(t => (
              <tr key={t.name}>
                <td>Terminal {t.name}</td>
                <td>active {relative(model, t.last_activity)}</td>
                <td>
                  {t.deadline === null
                    ? 'never closed for idleness'
                    : `closed at ${when(model, t.deadline)} if idle`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </>
    );
  }
}
