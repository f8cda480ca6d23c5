"""A fault at any stage of our startup stops the server with one clear line.

jupyter_server logs an extension that fails to link, load or start and runs on without it: a
server nobody culls, whose stock hub reporter we have already silenced. These tests inject a
fault at each stage through an operator config file (the only way to make our own code fail
on purpose in a real process) and check that the server exits, naming the stage and cause.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_server_process import launch  # noqa: F401 (a fixture)


@pytest.mark.parametrize("stage", ["link", "load", "start"])
def test_a_fault_at_any_stage_stops_the_server_naming_it(
    stage: str, tmp_path: Path, launch: Callable  # noqa: F811
) -> None:
    config = tmp_path / "faulty_config.py"
    config.write_text(
        "from jupyter_cull_ext import patches\n"
        "def boom(ext):\n"
        f"    raise RuntimeError('injected fault at {stage}')\n"
        f"patches.install_at_{stage} = boom\n"
    )
    server = launch(f"--config={config}", ready=False)
    rc = server.wait_exit(timeout=60)
    log = server.log()
    assert rc is not None, f"server still running with a fault at {stage}:\n{log}"
    assert rc != 0, log
    assert (f"jupyter_cull_ext: could not start culling ({stage}): RuntimeError: "
            f"injected fault at {stage}") in log, log
    if stage != "start":  # before start the server never served anything
        assert "is running at" not in log, log
