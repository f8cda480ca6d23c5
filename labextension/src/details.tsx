/**
 * The details popup (every deadline and why, keep-alive, kernels, terminals and the
 * processes that counted as work) and the
 * sentences it shares with the status-bar item.
 */

import { VDomRenderer } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
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

/** The popup's title, which names it for assistive technology (one popup at a time). */
const TITLE_ID = 'jp-CullExt-details-title';

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
  const trans = model.trans;
  const d = t - model.now();
  const text = formatDuration(trans, Math.abs(d), model.showSeconds);
  return d >= 0 ? trans.__('in %1', text) : trans.__('%1 ago', text);
}

/** One sentence about the server's stop, for the tooltip and the popup. */
export function summary(model: CullModel, hubHome: string | null): string {
  const { status, trans } = model;
  switch (model.phase) {
    case 'stopped':
      return hubHome
        ? trans.__(
            'This server has stopped. Start it again from the hub home page.'
          )
        : trans.__('This server has stopped.');
    case 'unreachable':
      return trans.__(
        'The server does not answer; it may have been stopped or the network is down.'
      );
    case 'unavailable':
      return trans.__(
        "The server's answer is not a status this extension understands (an older server, or an error page on the way); trying again."
      );
    case 'loading':
      return trans.__('Reading when this server will stop…');
    default:
      break;
  }
  if (status === null) {
    return '';
  }
  const s = status.server;
  if (s.deadline === null) {
    return describeNoDeadline(trans, s);
  }
  return trans.__(
    'This server stops at %1, when %2.',
    when(model, s.deadline),
    describeReason(trans, s)
  );
}

/** The details popup: every deadline and why, keep-alive, kernels, terminals, processes. */
export class CullDetails extends VDomRenderer<CullModel> {
  constructor(
    model: CullModel,
    private readonly actions: IStatusActions
  ) {
    super(model);
    this.addClass('jp-CullExt-details');
    // A non-modal dialog named by its title; focusable itself, so that opening it from the
    // keyboard moves focus in (and Escape, handled by the popup, works from there).
    this.node.setAttribute('role', 'dialog');
    this.node.setAttribute('aria-labelledby', TITLE_ID);
    this.node.tabIndex = -1;
  }

  render(): JSX.Element {
    const model = this.model;
    const trans = model.trans;
    const status = model.phase === 'unavailable' ? null : model.status;
    const hubHome = this.actions.hubHome;
    return (
      <div className="jp-CullExt-details-body">
        <h3 id={TITLE_ID} className="jp-CullExt-details-title">
          {trans.__('Automatic stop')}
        </h3>
        <p className="jp-CullExt-summary">{summary(model, hubHome)}</p>
        {model.phase === 'stopped' && hubHome ? (
          <p>
            <a className="jp-CullExt-link" href={hubHome}>
              {trans.__('Open the hub home page')}
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
          ? processes(trans, status.processes)
          : null}
      </div>
    );
  }

  private _server(s: IServerStatus): JSX.Element {
    const model = this.model;
    const trans = model.trans;
    const keepaliveActive = s.keepalive_until !== null;
    return (
      <dl className="jp-CullExt-facts">
        {s.deadline !== null ? (
          <>
            <dt>{trans.__('Stops')}</dt>
            <dd>
              {trans.__(
                '%1 (%2)',
                when(model, s.deadline),
                relative(model, s.deadline)
              )}
              {s.warn_at !== null
                ? trans.__('; warning at %1', when(model, s.warn_at))
                : ''}
            </dd>
          </>
        ) : null}
        <dt>{trans.__('Last activity')}</dt>
        <dd>
          {trans.__(
            '%1 (%2): %3',
            when(model, s.last_activity),
            relative(model, s.last_activity),
            describeLastActivity(s)
          )}
        </dd>
        <dt>{trans.__('Idle timeout')}</dt>
        <dd>
          {s.idle_timeout > 0
            ? describeSeconds(trans, s.idle_timeout)
            : trans.__('none')}
        </dd>
        <dt>{trans.__('Keep-alive')}</dt>
        <dd>
          {s.keepalive_max <= 0 ? (
            trans.__('disabled on this server')
          ) : keepaliveActive ? (
            <>
              {trans.__('until %1', when(model, s.keepalive_until))}{' '}
              <button
                className="jp-CullExt-button"
                onClick={() => void this.actions.cancelKeepalive()}
              >
                {trans.__('Cancel')}
              </button>
            </>
          ) : (
            <>
              {trans.__('off')}{' '}
              <button
                className="jp-CullExt-button jp-CullExt-keepalive-button"
                onClick={() => void this.actions.askKeepalive()}
              >
                {trans.__('Keep alive for …')}
              </button>{' '}
              <span className="jp-CullExt-cap">
                {trans.__(
                  '(up to %1)',
                  describeSeconds(trans, s.keepalive_max)
                )}
              </span>
            </>
          )}
        </dd>
        <dt>{trans.__('Maximum age')}</dt>
        <dd>
          {s.max_age > 0
            ? trans.__(
                '%1, reached at %2',
                describeSeconds(trans, s.max_age),
                when(model, s.max_age_deadline)
              )
            : trans.__('none')}
        </dd>
      </dl>
    );
  }

  private _kernels(kernels: IKernelStatus[]): JSX.Element {
    const open = this.actions.openKernels();
    const trans = this.model.trans;
    return table(
      trans.__('Kernels'),
      kernels.map(k => (
        <tr key={k.id}>
          <td>{open.get(k.id) ?? k.name}</td>
          <td>{describeKernelState(trans, k, iso => when(this.model, iso))}</td>
          <td>{this._kernelFate(k)}</td>
        </tr>
      ))
    );
  }

  private _kernelFate(k: IKernelStatus): string {
    const model = this.model;
    const trans = model.trans;
    switch (k.protected_by) {
      case 'busy':
        return trans.__('kept while running code');
      case 'connected':
        return trans.__('kept while open');
      case 'keepalive':
        return trans.__('kept alive until %1', when(model, k.deadline));
      case 'unknown':
        return trans.__(
          'state unknown (gateway out of reach): not shut down until it is known'
        );
      default:
        break;
    }
    if (k.deadline === null) {
      return trans.__('never shut down for idleness');
    }
    if (k.reason === 'dead') {
      return trans.__('dead: being removed');
    }
    return trans.__(
      'shut down at %1 (%2) if idle',
      when(model, k.deadline),
      relative(model, k.deadline)
    );
  }

  private _terminals(terminals: ITerminalStatus[]): JSX.Element {
    const model = this.model;
    const trans = model.trans;
    return table(
      trans.__('Terminals'),
      terminals.map(t => (
        <tr key={t.name} className="jp-CullExt-terminal">
          <td>{trans.__('Terminal %1', t.name)}</td>
          <td>{describeTerminalWork(trans, t)}</td>
          <td>{trans.__('active %1', relative(model, t.last_activity))}</td>
          <td>{describeTerminalFate(trans, t, iso => when(model, iso))}</td>
        </tr>
      ))
    );
  }
}

/** The processes that counted as work at the server's last sample. */
function processes(
  trans: TranslationBundle,
  list: IProcessStatus[]
): JSX.Element {
  return table(
    trans.__('Processes'),
    list.map(p => (
      <tr key={p.pid}>
        <td>{describeProcess(trans, p)}</td>
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
