"""Property: any value of any configurable trait of ``CullExt`` (read from the class, so a new
trait is fuzzed too), of the standard knobs we read, and of our two environment variables,
either starts a server whose effective configuration still culls, or stops startup with a
message naming the setting and the value.

"Still culls": a timeout is 0 (off) only where the operator wrote 0, is never longer than
written, every cull interval is positive and no longer than its timeout, the warning comes
before the stop, the extension is loaded and its status document can be computed, with a
server deadline whenever an idle timeout or max age is set, and the requests that count are
exactly those a configured pattern matches.

Each example runs the real startup path in-process (pytest-jupyter's ServerApp factory:
``ServerApp.initialize``, which links and loads our extension and builds the live managers);
about 20 ms each.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from conftest import BASE_CONFIG, merge
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from jupyter_server.serverapp import ServerApp
from traitlets import TraitError

from jupyter_cull_ext import knobs, status
from jupyter_cull_ext.app import MAX_LOG_BACKUPS, CullExt
from jupyter_cull_ext.hubenv import ENV_MAX_AGE, ENV_STARTED
from jupyter_cull_ext.traits import CullTraits

MAX_EXAMPLES = 150
KERNEL_SECTIONS = ("MappingKernelManager", "AsyncMappingKernelManager")
KNOBS = knobs.standard_knobs(KERNEL_SECTIONS)
OURS = sorted(CullTraits.class_own_traits(config=True))
#: Every CullExt trait this file knows how to judge; a new trait fails the test below until
#: its meaning is added to ``check_accepted``.
JUDGED = {
    "kernel_idle_timeout", "kernel_cull_interval", "cull_busy", "cull_connected",
    "terminal_idle_timeout", "terminal_cull_interval", "server_idle_timeout", "warn_before",
    "keepalive_max", "max_age", "server_started", "hub_activity_interval",
    "counted_requests", "server_log_path", "server_log_max_bytes", "server_log_backups",
    "cull_busy_terminals", "keepalive_owner_only", "process_cpu_threshold",
    "process_sample_interval",
}
TIMEOUTS = ("kernel_idle_timeout", "terminal_idle_timeout", "server_idle_timeout")
INTERVALS = {"kernel_cull_interval": "kernel_idle_timeout",
             "terminal_cull_interval": "terminal_idle_timeout"}

# --- values an operator might write ----------------------------------------------------

seconds_like = st.one_of(
    st.integers(min_value=-5, max_value=100_000),
    st.integers(),
    st.integers(min_value=knobs.MAX_SECONDS - 2, max_value=knobs.MAX_SECONDS + 2),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 2, 60, 3600, 0.0, 30.0, 1.5, True, False, None]),
    st.sampled_from(["30", " 30 ", "1e3", "-5", "abc", "", "0", "7d", "nan", "inf", "1_000",
                     "0x10", "30.0", "1.5"]),
)
anything = st.one_of(
    seconds_like,
    st.text(max_size=12),
    st.lists(st.one_of(st.integers(), st.text(max_size=6)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)
booleans_like = st.one_of(st.booleans(), st.sampled_from(["True", "false", "yes", "0", "maybe",
                                                          1, 0, None]))
offsets = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(
    lambda m: timezone(timedelta(minutes=m)))
aware_times = st.builds(lambda dt, tz: dt.replace(tzinfo=tz), st.datetimes(), offsets)
started_like = st.one_of(
    aware_times.map(lambda d: d.isoformat()),
    aware_times.map(lambda d: d.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")),
    st.datetimes().map(lambda d: d.isoformat()),  # no timezone
    st.sampled_from(["yesterday", "", "2026-13-01T00:00:00Z", "9999-12-31T23:59:59Z",
                     "0001-01-01T00:00:00+00:00"]),
)
# Regular expressions, valid alone or not, with the constructs that interact when several
# patterns are combined: inline flags, named groups, back references, alternation.
regex_parts = st.sampled_from([
    "POST api/contents", "(/.*)?", "PUT api/x", ".*", "(?i)", "(?P<a>x)", "(?P<a>y)", "(a)",
    r"\1", r"\2", "|", "(", ")", "[", "+", "GET api/kernels", "(?s)", "(?x) ", "$", "^",
])
regexes = st.lists(regex_parts, min_size=1, max_size=4).map("".join)
log_paths = st.sampled_from(["", "{tmp}/server.log", "/dev/full", "{tmp}", "{tmp}/no/such/dir/x",
                             "{tmp}/~weird name.txt"])

SPECIAL = {
    "cull_busy": booleans_like,
    "cull_busy_terminals": booleans_like,
    "keepalive_owner_only": booleans_like,
    "cull_connected": booleans_like,
    "server_started": started_like,
    "counted_requests": st.one_of(st.lists(regexes, max_size=4), st.lists(anything, max_size=2),
                                  anything, st.just(['["PUT api/.*"]'])),
    "server_log_path": st.one_of(log_paths, anything),
}


def value_for(name: str) -> st.SearchStrategy:
    return st.one_of(SPECIAL[name], anything) if name in SPECIAL else st.one_of(
        seconds_like, anything)


# A plausible operator: mostly valid values, so that accepted configurations (whose
# effective values are judged) are common too, not only refusals.
plausible_seconds = st.one_of(st.sampled_from([0, 1, 2, 5, 30, 60, 600, 3600, 86400]),
                              st.integers(min_value=0, max_value=10**6))
near_now = st.integers(min_value=-365 * 86400, max_value=86400).map(
    lambda s: (datetime.now(timezone.utc) + timedelta(seconds=s)).isoformat())
PLAUSIBLE = {
    "cull_busy": st.booleans(), "cull_connected": st.booleans(),
    "cull_busy_terminals": st.booleans(), "keepalive_owner_only": st.booleans(),
    "process_cpu_threshold": st.sampled_from([0, 0.05, 0.1, 1.0]),
    "process_sample_interval": st.sampled_from([1, 5, 30.0]),
    "server_started": near_now,
    "hub_activity_interval": st.one_of(st.none(), plausible_seconds),
    "counted_requests": st.lists(regexes, max_size=3),
    "server_log_path": log_paths,
    "server_log_max_bytes": st.integers(min_value=1024, max_value=10**7),
    "server_log_backups": st.integers(min_value=0, max_value=5),
}


def wild_or_plausible(wild: dict, plausible: dict) -> st.SearchStrategy:
    return st.one_of(st.fixed_dictionaries({}, optional=wild),
                     st.fixed_dictionaries({}, optional=plausible))


ours_config = wild_or_plausible(
    {name: value_for(name) for name in OURS},
    {name: PLAUSIBLE.get(name, plausible_seconds) for name in OURS})
standard_config = wild_or_plausible(
    {f"{section}.{knob.name}": (booleans_like if knob.kind is bool else seconds_like)
     for knob in KNOBS for section in knob.sections},
    {f"{section}.{knob.name}": (st.booleans() if knob.kind is bool else plausible_seconds)
     for knob in KNOBS for section in knob.sections})
env_config = wild_or_plausible(
    {ENV_MAX_AGE: st.one_of(seconds_like.map(str), st.text(max_size=6)),
     ENV_STARTED: started_like},
    {ENV_MAX_AGE: plausible_seconds.map(str), ENV_STARTED: near_now})


# --- the property ------------------------------------------------------------------------


@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ours=ours_config, standard=standard_config, env=env_config)
@example(ours={"counted_requests": ["(?i)post api/contents(/.*)?"]}, standard={}, env={})
@example(ours={"counted_requests": ["(?P<w>POST) api/contents", "(?P<w>PUT) api/x"]},
         standard={}, env={})
@example(ours={"counted_requests": ["(" * 2000 + ")" * 2000]}, standard={}, env={})
@example(ours={"counted_requests": ["[[a]"]}, standard={}, env={})  # a FutureWarning
@example(ours={"server_started": "9999-12-31T00:00:00Z", "max_age": 86400}, standard={}, env={})
@example(ours={"server_started": "2999-01-01T00:00:00Z", "max_age": 60}, standard={}, env={})
@example(ours={}, standard={}, env={ENV_STARTED: "0001-01-01T00:00:00Z", ENV_MAX_AGE: "60"})
@example(ours={"server_idle_timeout": 1}, standard={}, env={})
@example(ours={"server_log_path": "{tmp}/server.log", "server_log_backups": 10**7}, standard={},
         env={})
@example(ours={"kernel_cull_interval": 0, "terminal_cull_interval": 0}, standard={}, env={})
@example(ours={}, standard={"MappingKernelManager.cull_idle_timeout": "0",
                            "ServerApp.shutdown_no_activity_timeout": " 30 "}, env={})
def test_any_configuration_culls_or_is_refused_by_name(
    ours: dict, standard: dict, env: dict, jp_configurable_serverapp: Any,
    jp_asyncio_loop: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    assert set(OURS) == JUDGED, f"new CullExt traits to judge: {set(OURS) ^ JUDGED}"
    ours = {k: fill_tmp(v, tmp_path) if k == "server_log_path" else v for k, v in ours.items()}
    if "server_log_path" not in ours:
        ours["server_log_path"] = ""  # keep the examples' servers off the test's HOME file
    config = merge(BASE_CONFIG, {"CullExt": {"server_idle_timeout": 0}})
    config["CullExt"] = dict(ours)  # an operator's own, not the test defaults
    for dotted, value in standard.items():
        section, name = dotted.split(".")
        config.setdefault(section, {})[name] = value
    for name in (ENV_MAX_AGE, ENV_STARTED):
        if name in env:
            monkeypatch.setenv(name, env[name])
        else:
            monkeypatch.delenv(name, raising=False)

    written = {**{f"CullExt.{k}": v for k, v in ours.items()}, **standard, **env}
    app, refusal = start(jp_configurable_serverapp, config)
    try:
        if refusal is not None:
            event("refused")
            check_refused(refusal, written)
        else:
            event("accepted")
            check_accepted(app, ours, standard, env)
    finally:
        if app is not None:
            jp_asyncio_loop.run_until_complete(app._cleanup())
        ServerApp.clear_instance()


def fill_tmp(value: Any, tmp_path: Path) -> Any:
    """Log paths stay inside the test's folder (or are /dev/full): a fuzzed relative path
    must not append to files of the repository the test runs in."""
    if isinstance(value, str) and value.startswith("{tmp}"):
        return value.replace("{tmp}", str(tmp_path))
    if isinstance(value, str) and value not in ("", "/dev/full"):
        return str(tmp_path / "logs" / re.sub(r"[^\w.-]", "_", value)[:40])
    return value


def start(factory: Any, config: dict) -> tuple[Any, str | None]:
    """Start the server the way every in-process test does; return it, or the message the
    startup failed with (our own line on stderr, or the exception's text)."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return factory(config=config), None
    except SystemExit:
        lines = [re.split(r"invalid configuration: |could not start culling: ", line, 1)[1]
                 for line in err.getvalue().splitlines()
                 if re.search(r"jupyter_cull_ext: (invalid configuration|could not start "
                              r"culling): ", line)]
        assert lines, f"startup exited without saying why:\n{err.getvalue()}"
        return ServerApp.instance() if ServerApp.initialized() else None, lines[-1]
    except (TraitError, ValueError, TypeError) as e:  # raised by traitlets for other classes
        return (ServerApp.instance() if ServerApp.initialized() else None), str(e)


def check_refused(message: str, written: dict) -> None:
    """The message names one of the settings written, and its value."""

    def named(dotted: str, value: Any) -> bool:
        name = dotted.rsplit(".", 1)[-1]
        if name not in message:
            return False
        shown = [repr(value), str(value)]
        if isinstance(value, str):
            shown.append(repr(value.strip()))  # environment values are read stripped
        if isinstance(value, float) and value.is_integer():
            shown.append(repr(int(value)))  # traitlets' Int casts a whole float first
        if isinstance(value, list | tuple | dict):
            shown += [repr(v) for v in (value.values() if isinstance(value, dict) else value)]
        return any(s and s in message for s in shown)

    assert any(named(k, v) for k, v in written.items()), (message, written)


def effective_written(ours: dict, standard: dict, env: dict) -> dict[str, Any]:
    """What the operator asked for, per CullExt trait name: the explicit standard knob (the
    most specific section), else ours, else the environment, else the default."""
    out = {}
    for knob in KNOBS:
        sections = [s for s in reversed(knob.sections) if f"{s}.{knob.name}" in standard]
        if sections:
            raw = standard[f"{sections[0]}.{knob.name}"]
            out[knob.ours] = (knobs.seconds("x", raw) if knob.kind is int
                              else knobs.boolean("x", raw))
        elif knob.ours in ours:
            out[knob.ours] = ours[knob.ours]
        else:
            out[knob.ours] = CullExt.class_traits()[knob.ours].default_value
    if "max_age" in ours:  # an explicit setting wins over the environment
        out["max_age"] = ours["max_age"]
    else:
        raw = env.get(ENV_MAX_AGE, "").strip()
        out["max_age"] = knobs.seconds("x", raw) if raw else 0
    out["warn_before"] = ours.get("warn_before", 600)
    out["keepalive_max"] = ours.get("keepalive_max", 86400)
    return out


def check_accepted(app: Any, ours: dict, standard: dict, env: dict) -> None:
    settings_ = app.web_app.settings
    assert "jupyter_cull_ext" in settings_, "the server started without our extension: " \
        "nothing would be culled"
    ext = settings_["jupyter_cull_ext"]
    km, tm = app.kernel_manager, settings_["terminal_manager"]
    live = {"kernel_idle_timeout": km.cull_idle_timeout, "kernel_cull_interval": km.cull_interval,
            "cull_busy": km.cull_busy, "cull_connected": km.cull_connected,
            "terminal_idle_timeout": tm.cull_inactive_timeout,
            "terminal_cull_interval": tm.cull_interval,
            "server_idle_timeout": app.shutdown_no_activity_timeout}
    wrote = effective_written(ours, standard, env)
    for name in TIMEOUTS:
        assert (live[name] == 0) == (wrote[name] == 0), (name, live, wrote)
        assert 0 <= live[name] <= wrote[name], (name, live, wrote)
    for interval, timeout in INTERVALS.items():
        assert live[interval] > 0, (interval, live)
        assert live[timeout] == 0 or live[interval] <= live[timeout], (interval, live)
    assert live["cull_busy"] == wrote["cull_busy"] and \
        live["cull_connected"] == wrote["cull_connected"], (live, wrote)

    # What the status shows is what the live managers do.
    s = ext.live.settings()
    assert (s.kernel_timeout, s.terminal_timeout, s.server_timeout) == (
        live["kernel_idle_timeout"], live["terminal_idle_timeout"], live["server_idle_timeout"])
    assert (s.max_age, s.keepalive_max) == (wrote["max_age"], wrote["keepalive_max"]), s
    assert s.started <= datetime.now(timezone.utc), s.started  # max age never lengthened
    spans = [x for x in (s.server_timeout, s.max_age) if x]
    assert 0 <= s.warn_before <= wrote["warn_before"], (s, wrote)
    assert not spans or s.warn_before < min(spans), s

    doc = status.document(ext.enforcer.decide())  # computable: nothing overflows
    if spans:
        assert doc["server"]["deadline"] is not None, doc["server"]
        deadline = datetime.fromisoformat(doc["server"]["deadline"].replace("Z", "+00:00"))
        now = datetime.now(timezone.utc)
        assert deadline <= now + timedelta(seconds=max(spans) + 5), doc["server"]

    # The log file, if one is written, rotates promptly (it does so on the event loop).
    handler = ext.server_log.handler
    assert ext.server_log_backups <= MAX_LOG_BACKUPS, ext.server_log_backups
    if handler is not None and Path(handler.path).is_file():
        t0 = time.monotonic()
        handler.rotate()
        assert time.monotonic() - t0 < 0.5, ext.server_log_backups

    # The requests that count are those a configured pattern matches, each on its own terms.
    patterns = ours.get("counted_requests", list(ext.counted_requests))
    for method, path in (("POST", "api/contents/a.ipynb"), ("PUT", "api/x"), ("GET", "api/kernels"),
                         ("post", "api/contents")):
        expected = any(re.fullmatch(p, f"{method} {path}") for p in patterns)
        got = ext.classifier.counts(method, app.base_url + path, 200)
        assert got == expected, (patterns, method, path)
