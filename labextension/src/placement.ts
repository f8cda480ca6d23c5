/**
 * The countdown where there is no status bar (Jupyter Notebook 7's tree and notebook
 * pages): the same item in the menu row, at its right end next to the kernel indicator,
 * with its details popup opening below it instead of above.
 */

import type { JupyterFrontEnd } from '@jupyterlab/application';
import { Popup } from '@jupyterlab/statusbar';
import type { Message } from '@lumino/messaging';
import type { ISignal } from '@lumino/signaling';

import type { CullDetails, IStatusActions } from './details';
import type { CullModel } from './model';
import { CullStatus } from './status';

/** After Notebook 7's menu-row spacer (rank 900), before its kernel indicator (10010). */
const MENU_RANK = 1000;

/** Space kept free between the popup and the window's bottom edge, in pixels. */
const MARGIN = 8;

/**
 * A status-bar popup placed below its anchor. The status bar's popup always opens above
 * it, which in a top row leaves it no room: it would be squeezed or hidden.
 */
class PopupBelow extends Popup {
  constructor(private readonly _options: Popup.IOptions) {
    super(_options);
  }

  /** Show it, placed before the browser paints it. */
  launch(): void {
    super.launch();
    this._placeBelow();
  }

  protected onUpdateRequest(msg: Message): void {
    super.onUpdateRequest(msg); // places it above: corrected at once, before a paint
    this._placeBelow();
  }

  private _placeBelow(): void {
    const anchor = this._options.anchor.node.getBoundingClientRect();
    const node = this._options.body.node;
    const style = node.style;
    // Undo what placing it above may have done when there was no room.
    style.visibility = '';
    style.zIndex = '';
    style.marginTop = '0px';
    style.top = `${Math.floor(anchor.bottom)}px`;
    style.maxHeight = `${Math.max(window.innerHeight - anchor.bottom - MARGIN, 0)}px`;
    // Right edges aligned, as in the status bar, but never past the window's edges.
    const width = node.getBoundingClientRect().width;
    const left = Math.max(
      0,
      Math.min(anchor.right - width, window.innerWidth - width)
    );
    style.left = `${Math.ceil(left)}px`;
  }
}

/** The status item, opening its details below itself. */
class TopCullStatus extends CullStatus {
  constructor(model: CullModel, actions: IStatusActions) {
    super(model, actions);
    this.addClass('jp-CullExt-top');
  }

  protected openPopup(details: CullDetails): Popup {
    const popup = new PopupBelow({
      body: details,
      anchor: this,
      align: 'right',
      hasDynamicSize: true
    });
    popup.launch();
    return popup;
  }
}

/**
 * Put the countdown in the menu row of a shell without a status bar; shown or hidden
 * like the status-bar item (the `statusItem` setting).
 */
export function addToMenuRow(
  app: JupyterFrontEnd,
  model: CullModel,
  actions: IStatusActions,
  isActive: () => boolean,
  activeChanged: ISignal<unknown, void>
): CullStatus {
  const item = new TopCullStatus(model, actions);
  const show = () => item.setHidden(!isActive());
  activeChanged.connect(show);
  show();
  app.shell.add(item, 'menu', { rank: MENU_RANK });
  return item;
}
