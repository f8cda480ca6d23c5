"""The wheel as an operator installs it: built from the tracked sources, installed into a
fresh virtualenv on a PATH without Node, and reported enabled and OK by Jupyter.

This is what a user image does (``pip install jupyter-cull-ext``): no npm, no build step; the
JupyterLab extension and the file that enables the server extension come from the wheel.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import jupyter_cull_ext

REPO = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(cmd: list[str], **kwargs) -> str:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, f"{cmd} exited {result.returncode}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel .`` on a copy of what git tracks (so nothing built or ignored leaks in),
    with the build requirements from pyproject.toml in pip's isolated build environment."""
    src = tmp_path_factory.mktemp("src")
    tracked = run(["git", "ls-files", "-z"], cwd=REPO).split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
    # Building the frontend needs its npm packages; reuse the checkout's (npm ci is slow).
    (src / "node_modules").symlink_to(REPO / "node_modules")
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)])
    (built,) = out.glob("jupyter_cull_ext-*.whl")
    return built


def test_wheel_ships_both_extensions(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    data = f"jupyter_cull_ext-{jupyter_cull_ext.__version__}.data/data/"
    assert f"{data}etc/jupyter/jupyter_server_config.d/jupyter_cull_ext.json" in names
    lab = f"{data}share/jupyter/labextensions/jupyter-cull-ext/"
    for needed in ("package.json", "install.json", "schemas/jupyter-cull-ext/plugin.json",
                   "static/style.js", "static/third-party-licenses.json"):
        assert lab + needed in names, needed
    assert any(re.fullmatch(rf"{lab}static/remoteEntry\.\w+\.js", n) for n in names)
    assert "jupyter_cull_ext/hub/companion.py" in names
    assert not [n for n in names if "node_modules" in n or n.startswith("tests/")]


@pytest.mark.timeout(600)
def test_wheel_installs_and_loads_without_node(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)])
    bin_dir = venv / "bin"
    # Only the new venv on PATH: no node, npm or jlpm can take part in the install.
    env = {k: v for k, v in os.environ.items() if k.startswith(("PIP_", "LANG", "LC_"))}
    env.update(PATH=str(bin_dir), HOME=str(tmp_path / "home"))
    assert shutil.which("node", path=env["PATH"]) is None
    run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel), "jupyterlab>=4,<5"],
        env=env)

    servers = run([str(bin_dir / "jupyter"), "server", "extension", "list"], env=env)
    assert re.search(r"jupyter_cull_ext enabled\s+- Validating jupyter_cull_ext\.\.\.\s+"
                     rf"jupyter_cull_ext {re.escape(jupyter_cull_ext.__version__)} OK", servers), servers
    labs = run([str(bin_dir / "jupyter"), "labextension", "list"], env=env)
    assert re.search(rf"jupyter-cull-ext v{re.escape(jupyter_cull_ext.__version__)} enabled OK",
                     labs), labs
    # The console scripts an operator and a user reach for.
    assert "--max-age" in run([str(bin_dir / "jupyter-cull-hub"), "--help"], env=env)
    assert "{status}" in run([str(bin_dir / "jupyter"), "cull", "--help"], env=env)
