/**
 * The status item's model: the server's last status document, the clock offset to the
 * server, and a local tick between reads.
 *
 * The status is re-read by a `Poll` that stands by while the page is hidden, at most once a
 * minute while nothing is near and sooner as an event (warning, autosave, stop) approaches.
 * Between reads the countdown ticks locally on the server's clock (our clock plus the
 * offset measured from the server's `now`), so it shows the server's deadline, not ours.
 */

import { VDomModel } from '@jupyterlab/apputils';
import type { ServerConnection } from '@jupyterlab/services';
import {
  nullTranslator,
  type TranslationBundle
} from '@jupyterlab/translation';
import { Poll } from '@lumino/polling';

import {
  fetchStatus,
  keepAlive,
  NotStatusError,
  reportPresence,
  type ITimedStatus
} from './api';
import { ClockSync, parseTime, serverTime } from './clock';
import { phaseAfterFailure, phaseAt, remainingMs, type Phase } from './phase';
import { eventTimes, MAX_POLL_MS, nextPollDelay } from './schedule';
import type { IStatus } from './statusdoc';
import { DOMAIN } from './words';

export namespace CullModel {
  export interface IOptions {
    serverSettings: ServerConnection.ISettings;
    /** Kernel ids of the documents open in this browser (their deadlines are events). */
    openKernels?: () => ReadonlySet<string>;
    /** The words of our domain in the user's language (default: English). */
    trans?: TranslationBundle;
  }
}

export class CullModel extends VDomModel {
  constructor(options: CullModel.IOptions) {
    super();
    this._serverSettings = options.serverSettings;
    this._openKernels = options.openKernels ?? (() => new Set<string>());
    this.trans = options.trans ?? nullTranslator.load(DOMAIN);
    this._poll = new Poll({
      auto: true,
      factory: () => this._read(),
      frequency: { interval: MAX_POLL_MS, backoff: true, max: MAX_POLL_MS },
      name: 'jupyter-cull-ext:status',
      standby: 'when-hidden'
    });
    document.addEventListener('visibilitychange', this._onVisibility);
    this._tick();
  }

  /** The last status document the server sent, or null before the first. */
  get status(): IStatus | null {
    return this._status;
  }

  /** Milliseconds the server's clock is ahead of ours. */
  get offset(): number {
    return this._offset;
  }

  /** The server's time now (ms since the epoch). */
  now(): number {
    return serverTime(Date.now(), this._offset);
  }

  /** Local time (ms since the epoch) of a server time. */
  toLocal(serverMs: number): number {
    return serverMs - this._offset;
  }

  get phase(): Phase {
    if (this._failure !== null) {
      return this._failure;
    }
    return this._status === null
      ? 'loading'
      : phaseAt(this._status.server, this.now());
  }

  /** Milliseconds until the server stops, or null when nothing will stop it. */
  remaining(): number | null {
    return this._status === null
      ? null
      : remainingMs(this._status.server, this.now());
  }

  /** The words of our domain in the user's language, for the views of this model. */
  readonly trans: TranslationBundle;

  /** Show seconds in the countdown. */
  get showSeconds(): boolean {
    return this._showSeconds;
  }
  set showSeconds(value: boolean) {
    if (value !== this._showSeconds) {
      this._showSeconds = value;
      this.stateChanged.emit();
    }
  }

  /** Report that a person is here; the answer is the new status. */
  async presence(): Promise<void> {
    if (this.phase === 'stopped') {
      return;
    }
    this._apply(await reportPresence(this._serverSettings));
  }

  /** Ask the server to stay up `seconds` from now (0 cancels). Rejects with a
   * `CullApiError` carrying the server's reason when it refuses. */
  async keepAlive(seconds: number): Promise<void> {
    this._apply(await keepAlive(this._serverSettings, seconds));
    // A shorter (or cancelled) keep-alive can bring events closer than the next read.
    void this._poll.refresh();
  }

  /** Read the status now (e.g. when JupyterLab lost the server: has it stopped?). */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
    }
    document.removeEventListener('visibilitychange', this._onVisibility);
    super.dispose();
  }

  private async _read(): Promise<void> {
    try {
      this._apply(await fetchStatus(this._serverSettings));
    } catch (error) {
      this._failures += 1;
      const phase = phaseAfterFailure(this._status?.server ?? null, this.now());
      if (phase === 'stopped') {
        this._failure = phase;
      } else if (error instanceof NotStatusError) {
        // Something answered, but not with the server's status: say so at once (it is no
        // network blip) and keep ticking and reading until a good answer comes.
        this._failure = 'unavailable';
      } else if (this._failures >= 2) {
        // One failed read before the deadline may be a blip: say so only on the second.
        this._failure = phase;
      }
      this.stateChanged.emit();
      throw error;
    }
  }

  private _apply(timed: ITimedStatus): void {
    const { status, sentAt, receivedAt } = timed;
    this._status = status;
    this._offset = this._clock.update(status.now, sentAt, receivedAt);
    this._failure = null;
    this._failures = 0;
    const delay = nextPollDelay(
      eventTimes(status, this._openKernels()),
      this.now()
    );
    if (delay !== this._poll.frequency.interval) {
      this._poll.frequency = {
        interval: delay,
        backoff: true,
        max: MAX_POLL_MS
      };
    }
    this._tick();
  }

  /** Re-render now, and again when the countdown's shown second changes. */
  private _tick = (): void => {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
    }
    const deadline = parseTime(this._status?.server.deadline);
    let delay = 1000;
    if (deadline !== null && this._failure === null) {
      // Seconds are rounded up: the shown value changes on whole seconds before the deadline.
      const left = deadline - this.now();
      delay = left > 0 ? (left % 1000 || 1000) + 5 : 1000;
    }
    this._timer = window.setTimeout(this._tick, delay);
    this.stateChanged.emit();
  };

  private _onVisibility = (): void => {
    if (document.visibilityState === 'visible') {
      void this._poll.refresh();
    }
  };

  private _serverSettings: ServerConnection.ISettings;
  private _openKernels: () => ReadonlySet<string>;
  private _poll: Poll;
  private _status: IStatus | null = null;
  private _offset = 0;
  private _clock = new ClockSync();
  private _failure: 'stopped' | 'unreachable' | 'unavailable' | null = null;
  private _failures = 0;
  private _showSeconds = true;
  private _timer: number | null = null;
}
