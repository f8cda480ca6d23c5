/**
 * Presence: a person using JupyterLab in a visible tab is reported to the server
 * (`POST api/cull/activity`), at most once per interval (the server's `presence_interval`).
 *
 * Keyboard, mouse, wheel, scroll, touch and focus count, and only while the page is visible:
 * a hidden or unattended tab reports nothing, so it cannot keep the server alive.
 */

/**
 * Leading-and-trailing throttle, pure (the caller passes the time): the first event is sent
 * at once; events within `interval` of the last send are folded into one send when the
 * interval ends.
 */
export class Throttle {
  constructor(public interval: number) {}

  /** When the last report was sent, or null. */
  get lastSent(): number | null {
    return this._lastSent;
  }

  /** Whether an event is waiting for the end of the interval. */
  get pending(): boolean {
    return this._pending;
  }

  /** An event at `now`: true means send now; false means it waits for `dueAt()`. */
  event(now: number): boolean {
    if (this._lastSent === null || now - this._lastSent >= this.interval) {
      this.sent(now);
      return true;
    }
    this._pending = true;
    return false;
  }

  /** When the waiting event is to be sent, or null if none waits. */
  dueAt(): number | null {
    return this._pending && this._lastSent !== null
      ? this._lastSent + this.interval
      : null;
  }

  /** Called when the timer for `dueAt()` fires: true means send now. */
  flush(now: number): boolean {
    const due = this.dueAt();
    if (due === null || now < due) {
      return false;
    }
    this.sent(now);
    return true;
  }

  /** A report was sent at `now` (also for explicit ones, e.g. "I'm still here"). */
  sent(now: number): void {
    this._lastSent = now;
    this._pending = false;
  }

  private _lastSent: number | null = null;
  private _pending = false;
}

/** DOM events that mean a person is here. */
export const PRESENCE_EVENTS = [
  'keydown',
  'pointerdown',
  'pointermove',
  'wheel',
  'scroll',
  'touchstart',
  'focus'
] as const;

/**
 * Listens for presence in this document and calls `report` through a `Throttle`. It
 * reports nothing until enabled with the server's interval (from the first status).
 */
export class PresenceTracker {
  constructor(private readonly report: () => void) {
    this._throttle = new Throttle(0);
    for (const type of PRESENCE_EVENTS) {
      // Capture: scroll and focus do not bubble, and nothing may stop us seeing them.
      document.addEventListener(type, this._onEvent, {
        capture: true,
        passive: true
      });
    }
    window.addEventListener('focus', this._onEvent, { passive: true });
  }

  /** Whether to report (off before the first status and once the server has stopped). */
  enabled = false;

  set interval(ms: number) {
    this._throttle.interval = ms;
  }

  /** Note an explicit report made elsewhere (it restarts the interval). */
  sent(): void {
    this._throttle.sent(Date.now());
    this._clearTimer();
  }

  dispose(): void {
    for (const type of PRESENCE_EVENTS) {
      document.removeEventListener(type, this._onEvent, { capture: true });
    }
    window.removeEventListener('focus', this._onEvent);
    this._clearTimer();
  }

  private _onEvent = (): void => {
    if (!this.enabled || document.visibilityState !== 'visible') {
      return;
    }
    if (this._throttle.event(Date.now())) {
      this.report();
    } else if (this._timer === null) {
      const due = this._throttle.dueAt() ?? Date.now();
      // A little late rather than early: timers may fire a few ms ahead.
      this._timer = window.setTimeout(
        this._onTimer,
        Math.max(0, due - Date.now()) + 50
      );
    }
  };

  private _onTimer = (): void => {
    this._timer = null;
    if (this.enabled && this._throttle.flush(Date.now())) {
      this.report();
    }
  };

  private _clearTimer(): void {
    if (this._timer !== null) {
      window.clearTimeout(this._timer);
      this._timer = null;
    }
  }

  private _throttle: Throttle;
  private _timer: number | null = null;
}
