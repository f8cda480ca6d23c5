"""``$JUPYTERHUB_ACTIVITY_INTERVAL``: 0 (reporting off) or at least a second.

The hub sets it for every server; a typo such as 0.01 must not make the reporter post to the
hub many times a second while a kernel is busy: startup fails, naming the variable, as for
any other invalid value.
"""

from __future__ import annotations

import pytest
from test_server_process import launch  # noqa: F401 (launch is a fixture)

from jupyter_cull_ext import hubreport
from jupyter_cull_ext.knobs import ConfigError

VAR = "JUPYTERHUB_ACTIVITY_INTERVAL"


@pytest.mark.parametrize("raw, seconds", [
    ("", 300), ("0", 0), ("0.0", 0), ("1", 1), (" 1.5 ", 1.5), ("300", 300),
])
def test_off_or_at_least_a_second_is_accepted(raw, seconds):
    assert hubreport.env_interval({VAR: raw}) == seconds


@pytest.mark.parametrize("raw", ["0.01", "0.5", "0.999", "1e-9"])
def test_below_a_second_fails_naming_the_variable(raw):
    with pytest.raises(ConfigError, match=rf"{VAR}='{raw}' is below the minimum of 1 s"):
        hubreport.env_interval({VAR: raw})


def test_the_server_does_not_start_with_a_tiny_interval(launch):  # noqa: F811
    server = launch(env={VAR: "0.01"}, ready=False)
    assert server.wait_exit(30) not in (None, 0), server.log()
    log = server.log()
    errors = [line for line in log.splitlines() if "invalid configuration:" in line]
    assert errors and all(f"{VAR}='0.01'" in line for line in errors), log
    assert "is running at" not in log, log
