"""The JupyterLab extension as built and installed: its unit tests (jest), its registration
with JupyterLab, and one version everywhere."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import jupyter_cull_ext

REPO = Path(__file__).resolve().parents[1]
NODE_MODULES = REPO / "node_modules"


def test_widget_types_are_generated_from_the_status_schema() -> None:
    """labextension/src/statusdoc.ts is what scripts/statusdoc.py makes of the schema the
    server's answers are validated against (tests/test_endpoints.py), byte for byte."""
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "statusdoc.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_one_version_everywhere() -> None:
    package = json.loads((REPO / "package.json").read_text())
    pyproject = (REPO / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)
    assert package["name"] == "jupyter-cull-ext"
    assert package["version"] == version == jupyter_cull_ext.__version__


@pytest.mark.timeout(300)
def test_jest_unit_tests() -> None:
    """Countdown formatting, clock skew, when to warn, save and poll, presence throttling."""
    npm = shutil.which("npm")
    assert npm is not None, "npm is not available (Node 20+ is needed to test the widget)"
    assert NODE_MODULES.is_dir(), "node_modules is missing: run bash scripts/install.sh"
    result = subprocess.run([npm, "test", "--", "--ci"], cwd=REPO, capture_output=True,
                            text=True, timeout=280)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert re.search(r"Tests:\s+\d+ passed, \d+ total", output), output


@pytest.mark.oldest
def test_labextension_installed_and_enabled() -> None:
    assert (REPO / "jupyter_cull_ext" / "labextension" / "package.json").exists()
    result = subprocess.run(
        [sys.executable, "-m", "jupyterlab.labextensions", "list"],
        capture_output=True, text=True, timeout=120,
    )
    output = result.stdout + result.stderr
    line = next((ln for ln in output.splitlines() if "jupyter-cull-ext" in ln), "")
    assert re.search(r"jupyter-cull-ext v\S+ .*enabled.*OK", line), output
