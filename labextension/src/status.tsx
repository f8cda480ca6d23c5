/**
 * The status-bar item: a `TextItem` with the countdown, opening the details popup.
 */

import { VDomRenderer } from '@jupyterlab/apputils';
import { showPopup, TextItem, type Popup } from '@jupyterlab/statusbar';
import type { Message } from '@lumino/messaging';
import React from 'react';

import { CullDetails, summary, when, type IStatusActions } from './details';
import type { CullModel } from './model';
import type { Phase } from './phase';
import { label } from './words';

const PHASE_CLASSES: Phase[] = [
  'loading',
  'none',
  'calm',
  'warning',
  'due',
  'stopped',
  'unreachable',
  'unavailable'
];

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
    const current =
      server !== null && phase !== 'stopped' && phase !== 'unavailable';
    const lastActivity = current
      ? `\nLast activity: ${when(model, server.last_activity)}, ${server.last_activity_label}.`
      : '';
    const title = `${summary(model, hubHome)}${lastActivity}\nClick for details.`;
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
