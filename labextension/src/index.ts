/**
 * jupyter-cull-ext's JupyterLab plugin: a status-bar countdown to the server's automatic
 * stop, a warning in time (stay, keep alive, save), presence reporting from a visible tab,
 * and a save of unsaved documents before the stop that does not itself count as activity;
 * and (connection.ts) no "server unreachable" dialog over all that when the server stops
 * at the deadline it showed.
 */

import type {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import { PageConfig, PathExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStatusBar } from '@jupyterlab/statusbar';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { Signal } from '@lumino/signaling';

import { Alerts, type WarningDisplay } from './alerts';
import {
  AutosaveTagger,
  kernelDocuments,
  openContexts,
  saveDirty
} from './autosave';
import { connectionLostPlugin, IAnnouncedStop } from './connection';
import { askKeepalive } from './keepalive';
import { CullModel } from './model';
import { phaseAfterFailure } from './phase';
import { addToMenuRow } from './placement';
import { PresenceTracker } from './presence';
import { CullStatus } from './status';
import { describeSeconds, DOMAIN, hubHomeUrl } from './words';

const PLUGIN_ID = 'jupyter-cull-ext:plugin';

/** When the status-bar item is shown. */
type ItemVisibility = 'always' | 'when-scheduled' | 'never';

namespace CommandIDs {
  export const keepAlive = 'jupyter-cull-ext:keep-alive';
  export const details = 'jupyter-cull-ext:show-details';
}

const plugin: JupyterFrontEndPlugin<IAnnouncedStop> = {
  id: PLUGIN_ID,
  description:
    'Shows when and why the server will stop, warns in time, keeps it alive on request and saves open documents before it stops.',
  autoStart: true,
  requires: [IDocumentManager],
  optional: [IStatusBar, ISettingRegistry, ITranslator],
  provides: IAnnouncedStop,
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    statusBar: IStatusBar | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null
  ): IAnnouncedStop => {
    const trans = (translator ?? nullTranslator).load(DOMAIN);
    const services = app.serviceManager;
    const contexts = () => openContexts(app.shell, docManager);
    const openKernels = () => {
      const paths = kernelDocuments(contexts());
      for (const [id, path] of paths) {
        paths.set(id, PathExt.basename(path));
      }
      return paths;
    };
    const model = new CullModel({
      serverSettings: services.serverSettings,
      openKernels: () => new Set(openKernels().keys()),
      trans
    });
    // A lost connection at the deadline is the stop we announced: JupyterLab's dialog stays
    // away (connection.ts), and the status is read at once so that the item and the stopped
    // notice say so without waiting for the next poll.
    const announced: IAnnouncedStop = {
      stop: () =>
        model.status !== null &&
        phaseAfterFailure(model.status.server, model.now()) === 'stopped'
    };
    services.connectionFailure.connect(() => void model.refresh());
    const tagger = new AutosaveTagger([
      services.contents.serverSettings,
      services.serverSettings
    ]);
    const hubHome = hubHomeUrl(
      PageConfig.getOption('hubHost'),
      PageConfig.getOption('hubPrefix')
    );

    const tracker = new PresenceTracker(() => {
      model.presence().catch(() => undefined);
    });
    const presence = async () => {
      tracker.sent();
      await model.presence();
    };
    const keepalive = async () => {
      const seconds = await askKeepalive(model);
      if (seconds !== null) {
        Notification.success(
          trans.__(
            'This server is kept alive for %1.',
            describeSeconds(trans, seconds)
          ),
          { autoClose: 5000 }
        );
      }
      return seconds;
    };
    const cancelKeepalive = () => model.keepAlive(0);

    const alerts = new Alerts({
      model,
      commands: app.commands,
      presence,
      askKeepalive: keepalive,
      autosave: () =>
        saveDirty(contexts(), tagger, path =>
          services.contents.localPath(path)
        ),
      openKernels,
      hubHome
    });

    let visibility: ItemVisibility = 'always';
    let active = true;
    const activeChanged = new Signal<unknown, void>(model);
    const isActive = () => {
      if (visibility === 'never') {
        return false;
      }
      if (visibility === 'when-scheduled') {
        return model.phase !== 'none';
      }
      return true;
    };
    model.stateChanged.connect(() => {
      const server = model.status?.server;
      if (server) {
        tracker.interval = server.presence_interval * 1000;
      }
      tracker.enabled = server !== undefined && model.phase !== 'stopped';
      if (isActive() !== active) {
        active = !active;
        activeChanged.emit();
      }
    });

    let item: CullStatus | null = null;
    if (statusBar) {
      item = new CullStatus(model, {
        askKeepalive: keepalive,
        cancelKeepalive,
        openKernels,
        hubHome
      });
      statusBar.registerStatusItem(PLUGIN_ID, {
        item,
        align: 'right',
        rank: 0,
        isActive,
        activeStateChanged: activeChanged
      });
    } else {
      // No status bar (Jupyter Notebook 7): the same item in the menu row.
      item = addToMenuRow(
        app,
        model,
        { askKeepalive: keepalive, cancelKeepalive, openKernels, hubHome },
        isActive,
        activeChanged
      );
    }

    app.commands.addCommand(CommandIDs.keepAlive, {
      label: trans.__('Keep the Server Running…'),
      caption: trans.__(
        'Keep this server running for a while, whatever the activity'
      ),
      isEnabled: () => (model.status?.server.keepalive_max ?? 0) > 0,
      execute: keepalive
    });
    app.commands.addCommand(CommandIDs.details, {
      label: trans.__('Show When the Server Stops'),
      isEnabled: () => item !== null,
      execute: () => item?.toggleDetails()
    });

    if (settingRegistry) {
      const apply = (settings: ISettingRegistry.ISettings) => {
        visibility = settings.get('statusItem').composite as ItemVisibility;
        model.showSeconds = settings.get('showSeconds').composite as boolean;
        alerts.warningDisplay = settings.get('warningDisplay')
          .composite as WarningDisplay;
        alerts.kernelHeadsUp = settings.get('kernelHeadsUp')
          .composite as boolean;
        active = isActive();
        activeChanged.emit();
      };
      settingRegistry
        .load(PLUGIN_ID)
        .then(settings => {
          apply(settings);
          settings.changed.connect(apply);
        })
        .catch(reason => {
          Notification.error(
            trans.__('jupyter-cull-ext: could not load settings: %1', reason)
          );
        });
    }
    return announced;
  }
};

export default [plugin, connectionLostPlugin];
