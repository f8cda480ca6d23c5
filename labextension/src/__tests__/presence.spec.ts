import { Throttle } from '../presence';

describe('Throttle', () => {
  it('sends the first event at once', () => {
    const t = new Throttle(60_000);
    expect(t.event(0)).toBe(true);
    expect(t.lastSent).toBe(0);
    expect(t.pending).toBe(false);
  });

  it('sends at most once per interval, folding later events into one', () => {
    const t = new Throttle(60_000);
    let sent = 0;
    // Events every second for five minutes, a timer flushing whenever one is due.
    for (let now = 0; now <= 300_000; now += 1_000) {
      if (t.flush(now)) {
        sent++;
      }
      if (t.event(now)) {
        sent++;
      }
    }
    expect(sent).toBe(6);
  });

  it('sends a trailing report for activity within the interval', () => {
    const t = new Throttle(60_000);
    t.event(0);
    expect(t.event(10_000)).toBe(false);
    expect(t.dueAt()).toBe(60_000);
    expect(t.flush(59_999)).toBe(false);
    expect(t.flush(60_000)).toBe(true);
    expect(t.pending).toBe(false);
    expect(t.dueAt()).toBeNull();
  });

  it('reports nothing without events: an unattended tab stays silent', () => {
    const t = new Throttle(60_000);
    t.event(0);
    for (let now = 0; now < 600_000; now += 5_000) {
      expect(t.flush(now)).toBe(false);
    }
  });

  it('restarts the interval after an explicit report', () => {
    const t = new Throttle(60_000);
    t.event(0);
    t.event(30_000);
    t.sent(45_000);
    expect(t.pending).toBe(false);
    expect(t.event(90_000)).toBe(false);
    expect(t.event(105_000)).toBe(true);
  });
});
