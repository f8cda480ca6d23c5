/**
 * The "Keep alive for …" dialog: how long to keep the server up, bounded by the operator's
 * cap, which it shows. A longer request is refused here, before anything is sent; if the
 * server refuses anyway (its cap changed), its own message is shown the same way.
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { CullApiError } from './api';
import type { CullModel } from './model';
import { describeSeconds, keepaliveRefusal } from './words';

/** The dialog body: a number, a unit, the cap, and where refusals are shown. */
export class KeepaliveBody
  extends Widget
  implements Dialog.IBodyWidget<number>
{
  constructor(
    private readonly trans: TranslationBundle,
    private readonly keepaliveMax: number,
    initialSeconds: number,
    maxAgeNote: string
  ) {
    super();
    this.addClass('jp-CullExt-keepalive');
    const row = document.createElement('div');
    row.className = 'jp-CullExt-keepalive-row';
    const label = document.createElement('label');
    label.textContent = trans.__('Keep this server running for');
    this._amount = document.createElement('input');
    this._amount.type = 'number';
    this._amount.min = '1';
    this._amount.step = 'any';
    this._amount.className = 'jp-mod-styled jp-CullExt-keepalive-amount';
    this._amount.setAttribute('aria-label', trans.__('Duration'));
    this._unit = document.createElement('select');
    this._unit.className = 'jp-mod-styled jp-CullExt-keepalive-unit';
    this._unit.setAttribute('aria-label', trans.__('Unit'));
    const units = [
      { label: trans.__('minutes'), seconds: 60 },
      { label: trans.__('hours'), seconds: 3600 }
    ];
    for (const unit of units) {
      const option = document.createElement('option');
      option.value = String(unit.seconds);
      option.textContent = unit.label;
      this._unit.appendChild(option);
    }
    const hours = initialSeconds >= 3600 && initialSeconds % 3600 === 0;
    this._unit.value = hours ? '3600' : '60';
    this._amount.value = String(initialSeconds / (hours ? 3600 : 60));
    label.appendChild(this._amount);
    row.append(label, this._unit);

    const cap = document.createElement('p');
    cap.className = 'jp-CullExt-keepalive-cap';
    cap.textContent =
      keepaliveMax > 0
        ? trans.__(
            'Up to %1 (the limit set by your administrator).',
            describeSeconds(trans, keepaliveMax)
          )
        : trans.__('Keep-alive is disabled on this server.');
    this._refusal = document.createElement('p');
    this._refusal.className = 'jp-CullExt-refusal';
    this._refusal.setAttribute('role', 'alert');
    this.node.append(row, cap);
    if (maxAgeNote) {
      const note = document.createElement('p');
      note.className = 'jp-CullExt-keepalive-note';
      note.textContent = maxAgeNote;
      this.node.appendChild(note);
    }
    this.node.appendChild(this._refusal);
    this._amount.addEventListener('input', this._validate);
    this._unit.addEventListener('change', this._validate);
  }

  /** The requested duration in seconds. */
  getValue(): number {
    return Math.round(Number(this._amount.value) * Number(this._unit.value));
  }

  /** Show why the request is refused (empty: nothing to show). */
  set refusal(text: string) {
    this._refusal.textContent = text;
    this.toggleClass('jp-mod-refused', text !== '');
  }

  private _validate = (): void => {
    this.refusal =
      keepaliveRefusal(this.trans, this.getValue(), this.keepaliveMax) ?? '';
  };

  private _amount: HTMLInputElement;
  private _unit: HTMLSelectElement;
  private _refusal: HTMLParagraphElement;
}

/**
 * Ask how long to keep the server alive and ask the server. Resolves with the seconds
 * granted, or null if the user cancelled.
 */
export async function askKeepalive(model: CullModel): Promise<number | null> {
  const trans = model.trans;
  const server = model.status?.server;
  if (!server) {
    return null;
  }
  const cap = server.keepalive_max;
  let seconds = Math.min(cap, 3600) || 3600;
  let refusal = '';
  for (;;) {
    const maxAgeNote =
      server.max_age > 0
        ? trans.__(
            'The maximum age still applies: keep-alive cannot keep the server beyond it.'
          )
        : '';
    const body = new KeepaliveBody(trans, cap, seconds, maxAgeNote);
    body.refusal = refusal;
    const result = await showDialog({
      title: trans.__('Keep the server running'),
      body,
      buttons: [
        Dialog.cancelButton({ label: trans.__('Cancel') }),
        Dialog.okButton({ label: trans.__('Keep alive') })
      ],
      focusNodeSelector: '.jp-CullExt-keepalive-amount'
    });
    if (!result.button.accept || result.value === null) {
      return null;
    }
    seconds = result.value;
    refusal = keepaliveRefusal(trans, seconds, cap) ?? '';
    if (refusal) {
      continue;
    }
    try {
      await model.keepAlive(seconds);
      return seconds;
    } catch (error) {
      if (error instanceof CullApiError) {
        refusal = trans.__('The server refused: %1', error.message);
        continue;
      }
      throw error;
    }
  }
}
