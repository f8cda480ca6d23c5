import { nullTranslator } from '@jupyterlab/translation';

import { iso, kernel, server, status, T0 } from './fixtures';
import {
  CLOCK_SAMPLE_TTL_MS,
  ClockSync,
  clockOffset,
  parseTime,
  serverTime
} from '../clock';
import { phaseAfterFailure, phaseAt, remainingMs, warningKey } from '../phase';
import {
  autosaveAt,
  eventTimes,
  kernelsToWarn,
  MAX_POLL_MS,
  MIN_POLL_MS,
  nextPollDelay
} from '../schedule';
import {
  DOMAIN,
  describeSeconds,
  formatDuration,
  hubHomeUrl,
  keepaliveRefusal,
  label
} from '../words';

/** English, as JupyterLab speaks it without a language pack. */
const trans = nullTranslator.load(DOMAIN);

describe('formatDuration', () => {
  it('shows minutes and seconds, rounded up', () => {
    expect(formatDuration(trans, 42 * 60_000 + 12_001)).toBe('42:13');
    expect(formatDuration(trans, 9_000)).toBe('0:09');
    expect(formatDuration(trans, 8_001)).toBe('0:09');
    expect(formatDuration(trans, 60_000)).toBe('1:00');
  });
  it('adds hours when there are any', () => {
    expect(formatDuration(trans, 3_723_000)).toBe('1:02:03');
    expect(formatDuration(trans, 26 * 3_600_000)).toBe('26:00:00');
  });
  it('shows 0:00 only when the time is up, never a negative time', () => {
    expect(formatDuration(trans, 1)).toBe('0:01');
    expect(formatDuration(trans, 0)).toBe('0:00');
    expect(formatDuration(trans, -5_000)).toBe('0:00');
  });
  it('shows whole minutes without seconds', () => {
    expect(formatDuration(trans, 42 * 60_000 + 13_000, false)).toBe('43 min');
    expect(formatDuration(trans, 3_723_000, false)).toBe('1 h 03 min');
    expect(formatDuration(trans, 59_999, false)).toBe('< 1 min');
    expect(formatDuration(trans, 60_000, false)).toBe('1 min');
  });
});

describe('describeSeconds', () => {
  it('names the units', () => {
    expect(describeSeconds(trans, 45)).toBe('45 s');
    expect(describeSeconds(trans, 3600)).toBe('1 h');
    expect(describeSeconds(trans, 5400)).toBe('1 h 30 min');
    expect(describeSeconds(trans, 86400)).toBe('1 day');
    expect(describeSeconds(trans, 2 * 86400 + 3600)).toBe('2 days 1 h');
    expect(describeSeconds(trans, 90)).toBe('1 min 30 s');
  });
});

describe('clock skew', () => {
  it('takes the server clock at the middle of the round trip', () => {
    // Our clock says 12:00:00.000 at send and 12:00:00.200 at receipt; the server said
    // 12:00:05.100: it is 5 s ahead.
    expect(clockOffset(iso(T0 + 5_100), T0, T0 + 200)).toBe(5_000);
    expect(clockOffset(iso(T0 - 30_000), T0, T0)).toBe(-30_000);
  });
  it('counts down on the server clock, whatever ours says', () => {
    const s = server({ deadline: iso(T0 + 60_000) });
    // Our clock is 30 s behind the server's.
    const offset = clockOffset(iso(T0), T0 - 30_000, T0 - 30_000);
    expect(remainingMs(s, serverTime(T0 - 30_000, offset))).toBe(60_000);
    expect(remainingMs(s, serverTime(T0 - 30_000 + 10_000, offset))).toBe(
      50_000
    );
  });
  it('ignores an unreadable server time', () => {
    expect(clockOffset('not a time', T0, T0)).toBe(0);
    expect(parseTime(null)).toBeNull();
    expect(parseTime('garbage')).toBeNull();
  });
});

describe('phase and label', () => {
  it('is calm before warn_at, warning from it, due at the deadline', () => {
    const s = server();
    expect(phaseAt(s, T0)).toBe('calm');
    expect(phaseAt(s, T0 + 539_999)).toBe('calm');
    expect(phaseAt(s, T0 + 540_000)).toBe('warning');
    expect(phaseAt(s, T0 + 600_000)).toBe('due');
  });
  it('has nothing to count down when there is no deadline', () => {
    const s = server({ deadline: null, reason: null, warn_at: null });
    expect(phaseAt(s, T0)).toBe('none');
    expect(remainingMs(s, T0)).toBeNull();
    expect(label(trans, 'none', s, T0)).toBe('No auto-stop');
    expect(
      label(trans, 'none', { ...s, protected_by: 'unknown_kernel' }, T0)
    ).toBe('No auto-stop: kernel state unknown');
    expect(
      label(trans, 'none', { ...s, protected_by: 'busy_kernel' }, T0)
    ).toBe('No auto-stop: kernel busy');
  });
  it('says why the server stops', () => {
    expect(label(trans, 'calm', server(), T0)).toBe('Idle stop in 10:00');
    expect(label(trans, 'calm', server(), T0, false)).toBe(
      'Idle stop in 10 min'
    );
    expect(label(trans, 'calm', server({ reason: 'max_age' }), T0)).toBe(
      'Max age: stop in 10:00'
    );
    expect(
      label(trans, 'calm', server({ protected_by: 'keepalive' }), T0)
    ).toBe('Kept alive: stop in 10:00');
    expect(label(trans, 'due', server(), T0 + 600_000)).toBe('Stopping…');
    expect(label(trans, 'stopped', server(), T0)).toBe('Server stopped');
    expect(label(trans, 'loading', null, T0)).toBe('Auto-stop…');
  });
  it('takes a failed read near or after the deadline for the stop', () => {
    const s = server();
    expect(phaseAfterFailure(s, T0 + 600_500)).toBe('stopped');
    expect(phaseAfterFailure(s, T0 + 596_000)).toBe('stopped');
    expect(phaseAfterFailure(s, T0 + 100_000)).toBe('unreachable');
    expect(phaseAfterFailure(null, T0)).toBe('unreachable');
    expect(phaseAfterFailure(server({ deadline: null }), T0)).toBe(
      'unreachable'
    );
  });
});

describe('when to warn', () => {
  it('warns from warn_at until the stop, once per deadline', () => {
    const s = server();
    expect(warningKey(s, T0)).toBeNull();
    const key = warningKey(s, T0 + 540_000);
    expect(key).not.toBeNull();
    expect(warningKey(s, T0 + 599_000)).toBe(key);
    expect(warningKey(s, T0 + 601_000)).toBe(key);
  });
  it('withdraws the warning when the deadline moves away', () => {
    const moved = server({
      deadline: iso(T0 + 4_200_000),
      warn_at: iso(T0 + 4_140_000)
    });
    expect(warningKey(moved, T0 + 540_000)).toBeNull();
  });
  it('gives a new warning for a new deadline or reason', () => {
    const a = warningKey(server(), T0 + 550_000);
    const b = warningKey(server({ reason: 'max_age' }), T0 + 550_000);
    const c = warningKey(
      server({ deadline: iso(T0 + 590_000), warn_at: iso(T0 + 530_000) }),
      T0 + 550_000
    );
    expect(new Set([a, b, c]).size).toBe(3);
  });
  it('never warns without a deadline', () => {
    expect(
      warningKey(server({ deadline: null, warn_at: null }), T0)
    ).toBeNull();
  });
});

describe('autosave timing', () => {
  it('saves when the server says, and never without a deadline', () => {
    expect(autosaveAt(server())).toBe(T0 + 585_000);
    expect(
      autosaveAt(server({ deadline: null, autosave_at: null }))
    ).toBeNull();
  });
});

describe('kernel heads-up', () => {
  const open = new Set(['k1']);
  it('warns about a kernel open here from its heads-up time until its deadline', () => {
    const st = status(server({ deadline: iso(T0 + 3_600_000) }), [kernel()]);
    expect(kernelsToWarn(st, T0 + 239_999, open)).toEqual([]);
    expect(kernelsToWarn(st, T0 + 240_000, open).map(k => k.id)).toEqual([
      'k1'
    ]);
    expect(kernelsToWarn(st, T0 + 300_000, open)).toEqual([]);
  });
  it('ignores kernels not open here, or without a heads-up from the server', () => {
    const st = status(server({ deadline: iso(T0 + 3_600_000) }), [
      kernel({ id: 'other' }),
      kernel({ id: 'k1', deadline: null, reason: null, heads_up_at: null })
    ]);
    expect(kernelsToWarn(st, T0 + 250_000, new Set(['k1']))).toEqual([]);
  });
  it('leaves it to the server warning when the kernel goes with the server', () => {
    const st = status(server({ deadline: iso(T0 + 300_000) }), [
      kernel({ goes_with_server: true, heads_up_at: null })
    ]);
    expect(kernelsToWarn(st, T0 + 250_000, open)).toEqual([]);
  });
});

describe('polling', () => {
  it('reads at most once a minute while nothing is near', () => {
    const st = status(
      server({ deadline: iso(T0 + 3_600_000), warn_at: iso(T0 + 3_000_000) })
    );
    expect(nextPollDelay(eventTimes(st, new Set()), T0)).toBe(MAX_POLL_MS);
    expect(nextPollDelay([], T0)).toBe(MAX_POLL_MS);
  });
  it('reads sooner as an event approaches, and right after it', () => {
    expect(nextPollDelay([T0 + 40_000], T0)).toBe(20_000);
    expect(nextPollDelay([T0 + 10_000], T0)).toBe(5_000);
    expect(nextPollDelay([T0 + 1_500], T0)).toBe(2_000);
    expect(nextPollDelay([T0 + 200], T0)).toBe(MIN_POLL_MS);
  });
  it('reads every second after a recent deadline until the server is gone', () => {
    expect(nextPollDelay([T0 - 1_000], T0)).toBe(MIN_POLL_MS);
    expect(nextPollDelay([T0 - 120_000], T0)).toBe(MAX_POLL_MS);
  });
  it('counts the warning, the autosave, the stop and open kernels as events', () => {
    const st = status(server(), [kernel(), kernel({ id: 'k2' })]);
    const events = eventTimes(st, new Set(['k1']));
    expect(events).toEqual(
      expect.arrayContaining([
        T0 + 540_000,
        T0 + 585_000,
        T0 + 600_000,
        T0 + 240_000,
        T0 + 300_000
      ])
    );
    expect(events).toHaveLength(5);
  });
});

describe('keep-alive bounds', () => {
  it('refuses more than the cap, naming the cap', () => {
    expect(keepaliveRefusal(trans, 3600, 3600)).toBeNull();
    expect(keepaliveRefusal(trans, 7200, 3600)).toBe(
      'The longest keep-alive allowed here is 1 h.'
    );
    expect(keepaliveRefusal(trans, 0, 3600)).toMatch(/greater than zero/);
    expect(keepaliveRefusal(trans, Number.NaN, 3600)).toMatch(
      /greater than zero/
    );
    expect(keepaliveRefusal(trans, 60, 0)).toMatch(/disabled/);
  });
});

describe('hub home', () => {
  it('is the hub home page under JupyterHub only', () => {
    expect(hubHomeUrl('', '/hub/')).toBe('/hub/home');
    expect(hubHomeUrl('https://hub.example.org', '/hub/')).toBe(
      'https://hub.example.org/hub/home'
    );
    expect(hubHomeUrl('', '/prefix/hub')).toBe('/prefix/hub/home');
    expect(hubHomeUrl('', '')).toBeNull();
  });
});

describe('ClockSync', () => {
  it('keeps the offset of the quickest answer', () => {
    const clock = new ClockSync();
    expect(clock.offset).toBe(0);
    // 20 ms round trip: offset 5000 ± 10 ms.
    expect(clock.update(iso(T0 + 5_010), T0, T0 + 20)).toBe(5_000);
    // A slow answer (2 s) whose server time was read late: ignored.
    expect(
      clock.update(iso(T0 + 10_000 + 6_990), T0 + 10_000, T0 + 12_000)
    ).toBe(5_000);
    // An equally quick answer replaces it.
    expect(
      clock.update(iso(T0 + 20_000 + 4_510), T0 + 20_000, T0 + 20_020)
    ).toBe(4_500);
  });
  it('forgets old samples, so clocks drifting apart are followed', () => {
    const clock = new ClockSync();
    clock.update(iso(T0 + 5_010), T0, T0 + 20);
    const later = T0 + CLOCK_SAMPLE_TTL_MS + 1_000;
    expect(clock.update(iso(later + 7_000 + 250), later, later + 500)).toBe(
      7_000
    );
  });
});
