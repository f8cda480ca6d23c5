/**
 * What JupyterLab does when it loses the server (the `IConnectionLost` handler).
 *
 * JupyterLab's own handler under JupyterHub (the hub extension's "Server unavailable or
 * unreachable" dialog) opens a few seconds after every stop, scheduled or not: it covers
 * our stopped notice and the status item's link back to the hub, says nothing of why, and
 * opens again after each dismissal. So this plugin provides the same service (JupyterLab
 * uses the last provider registered, and extensions' plugins come after its own; its
 * handler is not disabled, so it is still there wherever ours does not load): when the
 * server went away at the deadline the status item showed,
 * it stays quiet and lets the status item and the stopped notice say why and how to get
 * back; any other loss is reported as before: under a hub, a dialog offering to restart
 * the server; elsewhere, JupyterLab's default dialog.
 */

import {
  ConnectionLost,
  IConnectionLost,
  type JupyterFrontEnd,
  type JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { PageConfig } from '@jupyterlab/coreutils';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Token } from '@lumino/coreutils';

import { DOMAIN, hubHomeUrl } from './words';

/** The plugin whose service this one takes over (not disabled: see above). */
export const REPLACED = '@jupyterlab/hub-extension:connectionlost';

/** JupyterHub's restart command, registered by the hub extension. */
const HUB_RESTART = 'hub:restart';

/** Whether a lost connection now is the stop the status item announced. */
export interface IAnnouncedStop {
  stop(): boolean;
}

/** Provided by the main plugin; without it (disabled) every loss is reported. */
export const IAnnouncedStop = new Token<IAnnouncedStop>(
  'jupyter-cull-ext:IAnnouncedStop',
  'Whether the server went away at the deadline the status item showed.'
);

export const connectionLostPlugin: JupyterFrontEndPlugin<IConnectionLost> = {
  id: 'jupyter-cull-ext:connection-lost',
  description:
    'Stays quiet when the server stops at the deadline the status bar showed (the status item says why), and otherwise reports a lost connection as JupyterLab does.',
  autoStart: true,
  provides: IConnectionLost,
  optional: [IAnnouncedStop, ITranslator],
  activate: (
    app: JupyterFrontEnd,
    announced: IAnnouncedStop | null,
    translator: ITranslator | null
  ): IConnectionLost => {
    const trans = (translator ?? nullTranslator).load(DOMAIN);
    let saidQuiet = false;
    /** Whether this loss is the announced stop (said once in the console, for whoever
     * wonders where JupyterLab's dialog went). */
    const quiet = (): boolean => {
      const stop = announced?.stop() ?? false;
      if (stop && !saidQuiet) {
        saidQuiet = true;
        // eslint-disable-next-line no-console -- deliberate: says where the dialog went
        console.info(
          'jupyter-cull-ext: the server stopped at the deadline shown; no connection-lost dialog'
        );
      }
      return stop;
    };
    const hubHome = hubHomeUrl(
      PageConfig.getOption('hubHost'),
      PageConfig.getOption('hubPrefix')
    );
    if (hubHome === null) {
      return async (manager, error, translator) => {
        if (!quiet()) {
          await ConnectionLost(manager, error, translator);
        }
      };
    }
    let asking = false;
    return async () => {
      if (asking || quiet()) {
        return;
      }
      asking = true;
      try {
        const result = await showDialog({
          title: trans.__('Server unreachable'),
          body: trans.__(
            'Your server at %1 does not answer: it is not running, or the network is down. Start it again from JupyterHub?',
            PageConfig.getBaseUrl()
          ),
          buttons: [
            Dialog.cancelButton({ label: trans.__('Dismiss') }),
            Dialog.okButton({ label: trans.__('Restart') })
          ]
        });
        if (result.button.accept) {
          if (app.commands.hasCommand(HUB_RESTART)) {
            await app.commands.execute(HUB_RESTART);
          } else {
            window.open(hubHome, '_blank');
          }
        }
      } finally {
        asking = false;
      }
    };
  }
};
