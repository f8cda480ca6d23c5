/**
 * What the extension says and does as deadlines approach: the warning before a stop (with
 * "I'm still here", "Keep alive for …" and, for max age, "Save all"), the quieter heads-up
 * before a kernel open here is culled, the pre-stop save of dirty documents, and the notice
 * once the server has stopped.
 */

import { Notification } from '@jupyterlab/apputils';
import type { CommandRegistry } from '@lumino/commands';

import { parseTime } from './clock';
import type { CullModel } from './model';
import { warningKey } from './phase';
import { autosaveAt, kernelsToWarn } from './schedule';
import type { IServerStatus, IStatus } from './statusdoc';
import { describeKernelHeadsUp, describeSeconds } from './words';

/** How the warning before a stop is shown. */
export type WarningDisplay = 'notification' | 'status-bar';

export namespace Alerts {
  export interface IOptions {
    model: CullModel;
    commands: CommandRegistry;
    /** Say a person is here ("I'm still here"). */
    presence: () => Promise<void>;
    /** Open the keep-alive dialog. */
    askKeepalive: () => Promise<unknown>;
    /** Save dirty documents without it counting as activity; resolves with their paths. */
    autosave: () => Promise<string[]>;
    /** Kernel ids open in this browser, and the document of each. */
    openKernels: () => Map<string, string>;
    /** The hub's home page, or null outside JupyterHub. */
    hubHome: string | null;
  }
}

/**
 * A visually hidden polite live region: screen readers read the warning when it starts or
 * changes, also when it is shown only on the status-bar item (JupyterLab's toasts are
 * `role="alert"`, announced on their own). Its text changes only with the warning, never
 * with the countdown's ticks.
 */
class Announcer {
  constructor() {
    this.node = document.createElement('div');
    this.node.className = 'jp-CullExt-announcer';
    this.node.setAttribute('role', 'status');
    this.node.setAttribute('aria-live', 'polite');
    document.body.appendChild(this.node);
  }

  say(text: string): void {
    this.node.textContent = text;
  }

  dispose(): void {
    this.node.remove();
  }

  readonly node: HTMLDivElement;
}

/** Local wall-clock time of a server time, for messages. */
function clock(model: CullModel, serverMs: number): string {
  return new Date(model.toLocal(serverMs)).toLocaleTimeString();
}

export class Alerts {
  constructor(private readonly options: Alerts.IOptions) {
    options.model.stateChanged.connect(this._update, this);
  }

  /** How the warning is shown. */
  warningDisplay: WarningDisplay = 'notification';

  /** Whether to give a heads-up before a kernel open here is culled. */
  kernelHeadsUp = true;

  dispose(): void {
    this.options.model.stateChanged.disconnect(this._update, this);
    this._dismissWarning();
    this._announcer.dispose();
    for (const id of this._kernelNotes.values()) {
      Notification.dismiss(id);
    }
    this._kernelNotes.clear();
  }

  private _update(): void {
    const { model } = this.options;
    const phase = model.phase;
    const status = model.status;
    if (phase === 'stopped') {
      this._dismissWarning();
      this._dismissKernels(new Set());
      this._showStopped();
      return;
    }
    if (this._stoppedNote !== null) {
      Notification.dismiss(this._stoppedNote);
      this._stoppedNote = null;
    }
    if (status === null || phase === 'unreachable' || phase === 'unavailable') {
      return;
    }
    const now = model.now();
    this._warn(status.server, warningKey(status.server, now));
    this._maybeAutosave(status.server, now);
    this._headsUp(status, now);
  }

  // The notifications' buttons keep JupyterLab's default look: its accent buttons fall
  // below WCAG AA contrast in the Dark theme (3.9:1, tests/browser/test_a11y.py).
  private _warn(server: IServerStatus, key: string | null): void {
    if (key === this._warningKey) {
      return;
    }
    this._dismissWarning();
    this._warningKey = key;
    if (key === null) {
      return;
    }
    const { model } = this.options;
    const trans = model.trans;
    const deadline = parseTime(server.deadline) ?? model.now();
    const actions: Notification.IAction[] = [];
    let message: string;
    if (server.reason === 'max_age') {
      message = trans.__(
        'This server reaches its maximum age and stops at %1. Open documents will be saved.',
        clock(model, deadline)
      );
      actions.push({
        label: trans.__('Save all'),
        caption: trans.__('Save every open document now'),
        callback: () => {
          void this.options.commands.execute('docmanager:save-all');
        }
      });
    } else {
      message =
        server.protected_by === 'keepalive'
          ? trans.__(
              'Your keep-alive ends: this server stops at %1. Unsaved documents will be saved first.',
              clock(model, deadline)
            )
          : trans.__(
              'Nothing has happened for a while: this server stops at %1. Unsaved documents will be saved first.',
              clock(model, deadline)
            );
      actions.push({
        label: trans.__("I'm still here"),
        caption: trans.__('Tell the server you are using it'),
        callback: () => {
          void this.options.presence();
        }
      });
      if (server.keepalive_max > 0) {
        actions.push({
          label: trans.__('Keep alive for …'),
          caption: trans.__(
            'Keep the server running for up to %1',
            describeSeconds(trans, server.keepalive_max)
          ),
          callback: () => {
            void this.options.askKeepalive();
          }
        });
      }
    }
    if (this.warningDisplay === 'notification') {
      this._warningNote = Notification.warning(message, {
        autoClose: false,
        actions
      });
    } else {
      this._announcer.say(message);
    }
  }

  private _dismissWarning(): void {
    if (this._warningNote !== null) {
      Notification.dismiss(this._warningNote);
      this._warningNote = null;
    }
    this._announcer.say('');
    this._warningKey = null;
  }

  /** Save dirty documents shortly before the stop; in a hidden tab (whose timers the
   * browser may slow down) already when the warning is due. */
  private _maybeAutosave(server: IServerStatus, now: number): void {
    const at = autosaveAt(server);
    const deadline = parseTime(server.deadline);
    if (
      at === null ||
      deadline === null ||
      now >= deadline || // too late: the server is stopping
      server.deadline === this._savedFor ||
      this._saving
    ) {
      return;
    }
    const early =
      document.visibilityState === 'hidden' && warningKey(server, now) !== null;
    if (now < at && !early) {
      return;
    }
    this._savedFor = server.deadline;
    this._saving = true;
    void this.options
      .autosave()
      .catch(() => [])
      .finally(() => {
        this._saving = false;
      });
  }

  private _headsUp(status: IStatus, now: number): void {
    const open = this.options.openKernels();
    const due = this.kernelHeadsUp
      ? kernelsToWarn(status, now, new Set(open.keys()))
      : [];
    const ids = new Set(due.map(k => k.id));
    this._dismissKernels(ids);
    for (const kernel of due) {
      // A new heads-up when the deadline moves or the kernel starts or stops waiting for input.
      const key = `${kernel.id}@${kernel.deadline}@${kernel.waiting_for_input_since}`;
      if (this._kernelNotes.has(key)) {
        continue;
      }
      const path = open.get(kernel.id) ?? kernel.name;
      const trans = this.options.model.trans;
      const keep = kernel.keepalive_offer;
      const actions: Notification.IAction[] =
        keep > 0
          ? [
              {
                label: trans.__(
                  'Keep it %1 longer',
                  describeSeconds(trans, keep)
                ),
                caption: trans.__(
                  'Keep the server and its kernels running (keep-alive)'
                ),
                callback: () => {
                  void this.options.model.keepAlive(keep);
                }
              }
            ]
          : [];
      const at = (iso: string | null) =>
        clock(this.options.model, parseTime(iso) ?? now);
      const id = Notification.info(
        describeKernelHeadsUp(trans, kernel, path, at),
        { autoClose: false, actions }
      );
      this._kernelNotes.set(key, id);
    }
  }

  /** Dismiss kernel heads-ups except those of `keep` (kernel ids). */
  private _dismissKernels(keep: ReadonlySet<string>): void {
    for (const [key, id] of [...this._kernelNotes]) {
      if (!keep.has(key.split('@')[0])) {
        Notification.dismiss(id);
        this._kernelNotes.delete(key);
      }
    }
  }

  private _showStopped(): void {
    if (this._stoppedNote !== null) {
      return;
    }
    const { hubHome, model } = this.options;
    const trans = model.trans;
    const maxAge = model.status?.server.reason === 'max_age';
    const actions: Notification.IAction[] = hubHome
      ? [
          {
            label: trans.__('Open the hub home page'),
            caption: trans.__('Start your server again from JupyterHub'),
            callback: () => {
              window.location.assign(hubHome);
            }
          }
        ]
      : [];
    const stopped = maxAge
      ? trans.__('This server has stopped (its maximum age).')
      : trans.__('This server has stopped (idle).');
    this._stoppedNote = Notification.info(
      hubHome
        ? trans.__('%1 Start it again from the hub home page.', stopped)
        : stopped,
      { autoClose: false, actions }
    );
  }

  private _announcer = new Announcer();
  private _warningKey: string | null = null;
  private _warningNote: string | null = null;
  private _kernelNotes = new Map<string, string>();
  private _stoppedNote: string | null = null;
  private _savedFor: string | null = null;
  private _saving = false;
}
