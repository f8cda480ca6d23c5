"""``scripts/demo.sh``'s directory: it holds the hub's cookie secret, database and the users'
homes, so it is fresh and private by default, and one given as ``DEMO_DIR`` is used only if
it is the caller's and not writable by others (a predictable path in a shared /tmp may have
been created first by another local user).

The script installs and starts a hub; its ``private_dir`` function is run alone here.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "scripts" / "demo.sh"


def private_dir(tmp_path: Path, demo_dir: str | None,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run demo.sh's ``private_dir`` with ``DEMO_DIR`` (None: unset); it prints the result."""
    body = re.search(r"^private_dir\(\) \{\n.*?^\}\n", SCRIPT.read_text(), re.S | re.M)
    assert body, "scripts/demo.sh has no private_dir function"
    env = {k: v for k, v in os.environ.items() if k != "DEMO_DIR"}
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir(exist_ok=True)
    if demo_dir is not None:
        env["DEMO_DIR"] = demo_dir
    return subprocess.run(
        ["bash", "-c", f'set -euo pipefail\n{body.group(0)}\nprivate_dir\necho "$DEMO_DIR"'],
        env=env, cwd=cwd or tmp_path, capture_output=True, text=True, timeout=30, check=False)


def test_by_default_a_fresh_private_directory_each_run(tmp_path):
    runs = [private_dir(tmp_path, None) for _ in range(2)]
    dirs = [Path(r.stdout.strip()) for r in runs]
    assert all(r.returncode == 0 for r in runs), runs
    assert dirs[0] != dirs[1]
    for d in dirs:
        assert d.parent == tmp_path / "tmp" and d.is_dir() and not list(d.iterdir())
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert "/tmp/jupyter-cull" not in SCRIPT.read_text()  # no predictable default left


def test_a_given_directory_is_created_private_or_used_if_it_is_ours(tmp_path):
    r = private_dir(tmp_path, "new/demo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "new" / "demo")  # absolute, from where we are
    assert stat.S_IMODE((tmp_path / "new" / "demo").stat().st_mode) == 0o700
    mine = tmp_path / "notebooks"
    mine.mkdir(mode=0o755)
    mine.chmod(0o755)
    r = private_dir(tmp_path, str(mine))
    assert (r.returncode, r.stdout.strip()) == (0, str(mine)), r.stderr
    assert stat.S_IMODE(mine.stat().st_mode) == 0o755  # left as it is


def test_a_directory_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    r = private_dir(tmp_path, str(shared))
    assert r.returncode != 0 and "writable by other users" in r.stderr, r


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create another user's directory")
def test_a_directory_created_by_someone_else_is_refused(tmp_path):
    planted = tmp_path / "jupyter-cull-hub-demo"
    planted.mkdir(mode=0o700)
    os.chown(planted, 12345, 12345)
    r = private_dir(tmp_path, str(planted))
    assert r.returncode != 0 and "not a directory of yours" in r.stderr, r
    link = tmp_path / "link"
    link.symlink_to(planted)
    r = private_dir(tmp_path, str(link))
    assert r.returncode != 0 and "not a directory of yours" in r.stderr, r
