/** Status documents for the unit tests, typed by the generated `statusdoc.ts`: a key
 * the schema gains or loses fails to compile here. */

import type {
  IKernelStatus,
  IProcessStatus,
  IServerStatus,
  IStatus,
  ITerminalStatus
} from '../statusdoc';

export const T0 = Date.parse('2025-01-01T12:00:00.000Z');
export const iso = (ms: number) => new Date(ms).toISOString();

export function server(overrides: Partial<IServerStatus> = {}): IServerStatus {
  return {
    deadline: iso(T0 + 600_000),
    reason: 'idle',
    warn_at: iso(T0 + 540_000),
    autosave_at: iso(T0 + 585_000),
    idle_timeout: 3600,
    idle_deadline: iso(T0 + 600_000),
    max_age: 0,
    max_age_deadline: null,
    started: iso(T0 - 3_000_000),
    last_activity: iso(T0 - 3_000_000),
    last_activity_source: 'presence',
    last_activity_label: 'someone using JupyterLab in a visible tab',
    last_activity_detail: null,
    protected_by: null,
    keepalive_until: null,
    keepalive_max: 86400,
    warn_before: 60,
    presence_interval: 60,
    ...overrides
  };
}

export function kernel(overrides: Partial<IKernelStatus> = {}): IKernelStatus {
  return {
    id: 'k1',
    name: 'python3',
    execution_state: 'idle',
    connections: 1,
    last_activity: iso(T0),
    timeout: 300,
    deadline: iso(T0 + 300_000),
    reason: 'idle',
    protected_by: null,
    goes_with_server: false,
    heads_up_at: iso(T0 + 240_000),
    keepalive_offer: 1800,
    waiting_for_input_since: null,
    ...overrides
  };
}

export function terminal(
  overrides: Partial<ITerminalStatus> = {}
): ITerminalStatus {
  return {
    name: '1',
    last_activity: iso(T0),
    timeout: 300,
    deadline: iso(T0 + 300_000),
    protected_by: null,
    command: null,
    waiting_for_input: false,
    ...overrides
  };
}

export function processEntry(
  overrides: Partial<IProcessStatus> = {}
): IProcessStatus {
  return {
    pid: 42,
    name: 'python',
    command: 'python train.py',
    cpu: 0.98,
    sampled: iso(T0),
    source: 'process:python',
    ...overrides
  };
}

export function status(
  s: IServerStatus,
  kernels: IKernelStatus[] = []
): IStatus {
  return {
    now: iso(T0),
    server: s,
    kernels,
    terminals: [],
    processes: [],
    settings: {
      kernel_timeout: 300,
      cull_busy: false,
      cull_connected: true,
      terminal_timeout: 300,
      cull_busy_terminals: false
    },
    hub: {
      reporting: false,
      interval: null,
      last_report: null,
      last_report_ok: null,
      last_error: null,
      last_reported_activity: null,
      reports: 0,
      clock_skew_seconds: null
    },
    gateway: null
  };
}
