/** What the widget says about work outside a kernel's code: busy terminals, the processes
 * that counted, and an `input()` nobody answered. */

import { nullTranslator } from '@jupyterlab/translation';

import {
  iso,
  kernel,
  processEntry,
  server,
  status,
  T0,
  terminal
} from './fixtures';
import { isStatus } from '../statuscheck';
import {
  DOMAIN,
  describeKernelHeadsUp,
  describeKernelState,
  describeLastActivity,
  describeNoDeadline,
  describeProcess,
  describeTerminalFate,
  describeTerminalWork,
  label,
  type TimeWords
} from '../words';

/** English, as JupyterLab speaks it without a language pack. */
const trans = nullTranslator.load(DOMAIN);

/** Server times as UTC HH:MM (T0 is 12:00), so the sentences are the same in every zone. */
const at: TimeWords = t => (t === null ? '—' : t.slice(11, 16));

describe('terminals', () => {
  it('say what runs in them, or that it only waits for the keyboard', () => {
    expect(describeTerminalWork(trans, terminal())).toBe('at the prompt');
    expect(
      describeTerminalWork(trans, terminal({ command: 'python train.py' }))
    ).toBe('running python train.py');
    const prompt = terminal({
      command: "python3 -c 'input()'",
      waiting_for_input: true
    });
    expect(describeTerminalWork(trans, prompt)).toBe(
      "waiting for your input: python3 -c 'input()'"
    );
  });
  it('say why they are kept, or when they are closed', () => {
    const busy = terminal({
      command: 'sleep 100',
      protected_by: 'busy',
      deadline: null
    });
    expect(describeTerminalFate(trans, busy, at)).toBe(
      'kept while a command runs'
    );
    expect(describeTerminalFate(trans, terminal(), at)).toBe(
      'closed at 12:05 if idle'
    );
    expect(describeTerminalFate(trans, terminal({ deadline: null }), at)).toBe(
      'never closed for idleness'
    );
    const kept = terminal({
      protected_by: 'keepalive',
      deadline: iso(T0 + 1_800_000)
    });
    expect(describeTerminalFate(trans, kept, at)).toBe(
      'kept alive until 12:30'
    );
  });
});

describe('the server', () => {
  it('says nothing stops it while a command runs in a terminal', () => {
    const s = server({
      deadline: null,
      reason: null,
      protected_by: 'busy_terminal'
    });
    expect(describeNoDeadline(trans, s)).toBe(
      'Nothing will stop this server while a command runs in a terminal.'
    );
    expect(label(trans, 'none', s, T0)).toBe('No auto-stop: terminal busy');
    expect(
      describeNoDeadline(
        trans,
        server({ deadline: null, protected_by: 'busy_kernel' })
      )
    ).toBe('Nothing will stop this server while a kernel is running code.');
    expect(describeNoDeadline(trans, server({ deadline: null }))).toBe(
      'Nothing will stop this server automatically.'
    );
  });
  it('names what the last activity was when the server says', () => {
    const s = server({
      last_activity_source: 'busy_terminal',
      last_activity_label: 'a command running in a terminal',
      last_activity_detail: 'terminal 1: python train.py'
    });
    expect(describeLastActivity(s)).toBe(
      'a command running in a terminal — terminal 1: python train.py'
    );
    expect(describeLastActivity(server())).toBe(
      'someone using JupyterLab in a visible tab'
    );
  });
});

describe('processes', () => {
  it('show the command and the CPU it used', () => {
    expect(describeProcess(trans, processEntry())).toBe(
      'python train.py (pid 42): 0.98 cores'
    );
    expect(describeProcess(trans, processEntry({ cpu: 1 }))).toBe(
      'python train.py (pid 42): 1.00 core'
    );
  });
  it('are part of a valid status document', () => {
    const doc = {
      ...status(server()),
      terminals: [
        terminal({ command: 'sleep 100', protected_by: 'busy' as const })
      ],
      processes: [processEntry()]
    };
    expect(isStatus(doc)).toBe(true);
  });
});

describe('a kernel waiting for input()', () => {
  const waiting = kernel({
    execution_state: 'busy',
    waiting_for_input_since: iso(T0 - 120_000)
  });
  it('is shown as waiting for your input since the prompt', () => {
    expect(describeKernelState(trans, waiting, at)).toBe(
      'waiting for your input since 11:58'
    );
    expect(describeKernelState(trans, kernel(), at)).toBe('idle');
  });
  it('gets a heads-up that says so, and that answering keeps it', () => {
    expect(describeKernelHeadsUp(trans, waiting, 'work.ipynb', at)).toBe(
      'The kernel of work.ipynb is waiting for your input: answer the prompt, or it is shut down at 12:05.'
    );
    expect(describeKernelHeadsUp(trans, kernel(), 'work.ipynb', at)).toBe(
      'The idle kernel of work.ipynb will be shut down at 12:05; its variables will be lost.'
    );
  });
});
