"""Configuration: our traits are defaults for the standard knobs, an explicit standard knob
wins, and the effective values are read back from the live managers."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from jupyter_cull_ext import knobs


def live(app):
    km = app.kernel_manager
    tm = app.web_app.settings["terminal_manager"]
    return {
        "kernel": km.cull_idle_timeout,
        "kernel_interval": km.cull_interval,
        "busy": km.cull_busy,
        "connected": km.cull_connected,
        "terminal": tm.cull_inactive_timeout,
        "terminal_interval": tm.cull_interval,
        "server": app.shutdown_no_activity_timeout,
    }


CASES = {
    "our-defaults": (
        {"CullExt": {"server_idle_timeout": 0}},
        {"kernel": 3600, "kernel_interval": 60, "busy": False, "connected": True,
         "terminal": 3600, "terminal_interval": 60, "server": 0},
    ),
    "our-traits-feed-the-standard-knobs": (
        {"CullExt": {"kernel_idle_timeout": 600, "cull_busy": True,
                     "terminal_idle_timeout": 900, "server_idle_timeout": 0}},
        {"kernel": 600, "busy": True, "terminal": 900},
    ),
    "explicit-standard-knob-wins": (
        {"CullExt": {"kernel_idle_timeout": 600, "server_idle_timeout": 0},
         "MappingKernelManager": {"cull_idle_timeout": 900, "cull_connected": False}},
        {"kernel": 900, "connected": False},
    ),
    "subclass-and-terminal-sections": (
        {"AsyncMappingKernelManager": {"cull_idle_timeout": 1200},
         "TerminalManager": {"cull_inactive_timeout": 300, "cull_interval": 30}},
        {"kernel": 1200, "terminal": 300, "terminal_interval": 30},
    ),
    "zero-disables": (
        {"CullExt": {"kernel_idle_timeout": 0, "terminal_idle_timeout": 0}},
        {"kernel": 0, "terminal": 0, "server": 0},
    ),
}


@pytest.mark.parametrize(
    "expected",
    [pytest.param(exp, marks=pytest.mark.cull_config(cfg), id=name)
     for name, (cfg, exp) in CASES.items()],
)
async def test_effective_values_on_the_live_managers(expected, jp_serverapp, status):
    got = live(jp_serverapp)
    assert {k: got[k] for k in expected} == expected
    s = await status()
    assert s["settings"]["kernel_timeout"] == got["kernel"]
    assert s["settings"]["terminal_timeout"] == got["terminal"]
    assert s["settings"]["cull_connected"] == got["connected"]
    assert s["server"]["idle_timeout"] == got["server"]


async def test_kernel_timeout_is_read_per_kernel(start_kernel, status):
    kid = await start_kernel()
    k = (await status())["kernels"][0]
    assert (k["id"], k["timeout"]) == (kid, 3600)


# --- the resolution itself (pure) -------------------------------------------------------

OURS = {"kernel_idle_timeout": 3600, "kernel_cull_interval": 60, "cull_busy": False,
        "cull_connected": True, "terminal_idle_timeout": 3600, "terminal_cull_interval": 60,
        "server_idle_timeout": 3600, "warn_before": 600, "keepalive_max": 86400, "max_age": 0}
KNOBS = knobs.standard_knobs(("MappingKernelManager", "AsyncMappingKernelManager"))


def resolve(config: dict, ours_explicit=(), **ours):
    return knobs.resolve(Config(config), {**OURS, **ours}, set(ours_explicit), KNOBS)


def test_short_server_timeout_alone_adjusts_the_rest_with_one_line_each():
    r = resolve({"ServerApp": {"shutdown_no_activity_timeout": 15}})
    v = r.values
    assert v["server_idle_timeout"] == 15
    assert v["kernel_idle_timeout"] == 15
    assert v["terminal_idle_timeout"] == 15
    assert v["kernel_cull_interval"] == 15 and v["terminal_cull_interval"] == 15
    assert v["warn_before"] == 7
    assert len(r.messages) == 5
    assert all("\n" not in m for m in r.messages)
    assert r.push.MappingKernelManager.cull_idle_timeout == 15
    assert r.push.AsyncMappingKernelManager.cull_idle_timeout == 15
    assert r.push.TerminalManager.cull_inactive_timeout == 15


def test_explicit_kernel_timeout_is_explained_not_changed():
    r = resolve({"ServerApp": {"shutdown_no_activity_timeout": 600},
                 "MappingKernelManager": {"cull_idle_timeout": 3600}})
    assert r.values["kernel_idle_timeout"] == 3600
    assert any("longer than the server idle timeout" in m for m in r.messages)


def test_conflict_between_our_trait_and_standard_knob_is_logged():
    r = resolve({"MappingKernelManager": {"cull_idle_timeout": 900}},
                ours_explicit={"kernel_idle_timeout"}, kernel_idle_timeout=600)
    assert r.values["kernel_idle_timeout"] == 900
    assert any("CullExt.kernel_idle_timeout=600" in m and "=900" in m for m in r.messages)


def test_warning_is_clamped_against_max_age():
    r = resolve({}, max_age=300, server_idle_timeout=0)
    assert r.values["warn_before"] == 150


def test_cli_strings_are_parsed():
    r = resolve({"MappingKernelManager": {"cull_idle_timeout": "8", "cull_busy": "True"}})
    assert r.values["kernel_idle_timeout"] == 8 and r.values["cull_busy"] is True


@pytest.mark.parametrize(
    "section, name, value, needle",
    [
        ("MappingKernelManager", "cull_idle_timeout", -5, "MappingKernelManager.cull_idle_timeout=-5"),
        ("AsyncMappingKernelManager", "cull_idle_timeout", "abc", "cull_idle_timeout='abc'"),
        ("MappingKernelManager", "cull_interval", 1.5, "cull_interval=1.5"),
        ("MappingKernelManager", "cull_busy", "maybe", "cull_busy='maybe'"),
        ("TerminalManager", "cull_inactive_timeout", True, "cull_inactive_timeout=True"),
        ("ServerApp", "shutdown_no_activity_timeout", -1, "shutdown_no_activity_timeout=-1"),
    ],
)
def test_invalid_standard_values_name_the_trait_and_value(section, name, value, needle):
    with pytest.raises(knobs.ConfigError, match=needle.replace(".", r"\.")):
        resolve({section: {name: value}})
