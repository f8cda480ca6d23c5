/**
 * The status-bar item: a `TextItem` with the countdown, opening the details popup.
 *
 * For assistive technology it is a button named by the countdown and the reason (its
 * `aria-label`, renewed at each tick but never announced unasked: no live region), whose
 * popup is a dialog that takes the focus when it opens and gives it back when it closes
 * (Escape closes it, in the popup or on the item).
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

/**
 * Names the item (its `aria-label`) in the same React commit that changes its text, so the
 * accessible name never lags or leads the countdown shown (React renders asynchronously).
 */
function ItemName(props: { node: HTMLElement; name: string }): null {
  React.useLayoutEffect(() => {
    props.node.setAttribute('aria-label', props.name);
  }, [props.node, props.name]);
  return null;
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
    this.node.setAttribute('aria-haspopup', 'dialog');
    this.node.setAttribute('aria-expanded', 'false');
    this.node.addEventListener('click', this._onClick);
    this.node.addEventListener('keydown', this._onKeydown);
  }

  render(): JSX.Element {
    const model = this.model;
    const trans = model.trans;
    const phase = model.phase;
    const server = model.status?.server ?? null;
    const text = label(trans, phase, server, model.now(), model.showSeconds);
    const hubHome = this.actions.hubHome;
    const current =
      server !== null && phase !== 'stopped' && phase !== 'unavailable';
    const lastActivity = current
      ? '\n' +
        trans.__(
          'Last activity: %1, %2.',
          when(model, server.last_activity),
          server.last_activity_label
        )
      : '';
    const about = summary(model, hubHome);
    const title = `${about}${lastActivity}\n${trans.__('Click for details.')}`;
    const name = about ? `${text}. ${about}` : text;
    return (
      <>
        <ItemName node={this.node} name={name} />
        <TextItem className="jp-CullExt-text" source={text} title={title} />
        {phase === 'stopped' && hubHome ? (
          // A shortcut for the mouse; keyboard and screen-reader users have the same link
          // in the popup (a link inside this button would be unreachable for them).
          <a
            className="jp-CullExt-link"
            href={hubHome}
            title={trans.__('Start your server again from JupyterHub')}
            tabIndex={-1}
            aria-hidden="true"
            onClick={event => event.stopPropagation()}
          >
            {trans.__('Hub home')}
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

  /** Show ``details`` in a popup: the status bar's, above the item. */
  protected openPopup(details: CullDetails): Popup {
    return showPopup({
      body: details,
      anchor: this,
      align: 'right',
      hasDynamicSize: true
    });
  }

  /** Open (or close) the details popup. */
  toggleDetails(): void {
    if (this._popup && !this._popup.isDisposed) {
      this._popup.dispose();
      return;
    }
    const details = new CullDetails(this.model, this.actions);
    const popup = this.openPopup(details);
    this._popup = popup;
    this.node.setAttribute('aria-expanded', 'true');
    details.node.focus();
    popup.disposed.connect(() => {
      this._popup = null;
      this.node.setAttribute('aria-expanded', 'false');
      // Closed from inside (Escape, or focus left nowhere): focus goes back to the item.
      // Closed by a click elsewhere: focus stays where the user clicked.
      const focused = document.activeElement;
      if (
        !this.isDisposed &&
        (focused === null ||
          focused === document.body ||
          popup.node.contains(focused))
      ) {
        this.node.focus();
      }
    });
  }

  private _onClick = (): void => {
    this.toggleDetails();
  };

  private _onKeydown = (event: KeyboardEvent): void => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      this.toggleDetails();
    } else if (event.key === 'Escape' && this._popup) {
      event.preventDefault();
      this._popup.dispose();
    }
  };

  private _popup: Popup | null = null;
}
