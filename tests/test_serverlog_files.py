"""What may be at the server log's path, and who else writes to it.

The path is in the user's home, which the server may write with more rights than the home's
owner (a root-run server, as in the hub demo): whatever is there other than a regular file of
the server's own user is refused with one line, untouched, and the server runs and culls
without the file. Several servers may share the file (named servers on one home volume, a
server started in another's terminal): rotation by one never costs another's lines, and every
line says which server wrote it.

Handler-level tests first, then real ``jupyter server`` processes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from test_server_process import launch, server_env  # noqa: F401 (launch is a fixture)

from jupyter_cull_ext import serverlog
from jupyter_cull_ext.logfile import UnsafeLogFile
from jupyter_cull_ext.logmask import Masker
from jupyter_cull_ext.serverlog import ServerLogHandler

LOG_NAME = ".jupyter-server-log.txt"
VICTIM = "someone else's file\n"
OTHER_UID = 12345

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chown, a root server)")


def snapshot(path: Path) -> tuple:
    st = path.stat()
    return path.read_bytes(), stat.S_IMODE(st.st_mode), st.st_uid, st.st_size


def plant(home: Path, what: str) -> Path:
    """Put ``what`` at the log path in ``home``; return the file that must stay untouched
    (it may not exist: then it must not be created)."""
    path = home / LOG_NAME
    victim = home.parent / "victim.txt"
    if what != "dangling-symlink":
        victim.write_text(VICTIM)
        victim.chmod(0o644)
    if what in ("symlink", "dangling-symlink"):
        path.symlink_to(victim)
    elif what == "hardlink":
        os.link(victim, path)
    elif what == "other-owner":
        victim = path
        victim.write_text(VICTIM)
        victim.chmod(0o644)
        os.chown(victim, OTHER_UID, OTHER_UID)
    elif what == "fifo":
        os.mkfifo(path, 0o600)
        victim = path
    return victim


def file_logger(handler: ServerLogHandler) -> logging.Logger:
    logger = logging.getLogger(f"test_serverlog_files.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger


# --- what is at the path -----------------------------------------------------------------


@pytest.mark.parametrize("what, reason", [
    ("symlink", "symbolic link"),
    ("dangling-symlink", "symbolic link"),
    ("hardlink", "hard links"),
    ("fifo", "named pipe"),
    pytest.param("other-owner", f"belongs to uid {OTHER_UID}", marks=as_root),
])
def test_only_a_file_of_the_servers_user_is_opened(tmp_path, what, reason):
    home = tmp_path / "home"
    home.mkdir()
    victim = plant(home, what)
    before = snapshot(victim) if victim.exists() and not stat.S_ISFIFO(
        victim.stat().st_mode) else None
    handler = ServerLogHandler(str(home / LOG_NAME), 1024, 0, Masker())
    with pytest.raises(UnsafeLogFile, match=reason):
        handler.open()
    assert handler.fd is None
    if what == "dangling-symlink":
        assert not victim.exists()  # O_CREAT did not create the symlink's target
    elif before is not None:
        assert snapshot(victim) == before


def test_a_fifo_with_a_reader_is_refused_too(tmp_path):
    path = tmp_path / LOG_NAME
    os.mkfifo(path, 0o600)
    reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        handler = ServerLogHandler(str(path), 1024, 1, Masker())
        file_logger(handler).warning("into the pipe?")
        handler.close()
        try:
            assert os.read(reader, 100) == b""  # nothing was written
        except BlockingIOError:
            pass
        assert handler.lost == 1
    finally:
        os.close(reader)


def test_a_file_swapped_for_a_symlink_while_running_is_not_followed(tmp_path, capfd):
    path = tmp_path / LOG_NAME
    victim = tmp_path / "victim.txt"
    victim.write_text(VICTIM)
    victim.chmod(0o644)
    handler = ServerLogHandler(str(path), 1024, 0, Masker())
    log = file_logger(handler)
    log.info("first")
    path.unlink()
    path.symlink_to(victim)
    for i in range(50):  # enough to need a rotation (here: emptying) of a 1024-byte file
        log.info("line %d %s", i, "x" * 40)
    handler.close()
    assert snapshot(victim)[:2] == (VICTIM.encode(), 0o644)
    err = capfd.readouterr().err
    assert err.count("cannot write the server log") == 1, err
    assert "symbolic link" in err


def test_a_mirrored_file_is_made_private_only_if_it_is_ours_and_at_the_path(tmp_path):
    """repo2docker's redirection, but the path is a symlink to someone's file: the server's
    stderr goes there already (the shell followed the link); we do not chmod it."""
    victim = tmp_path / "victim.txt"
    victim.write_text(VICTIM)
    victim.chmod(0o644)
    path = tmp_path / LOG_NAME
    path.symlink_to(victim)
    logger = logging.getLogger("test_serverlog_files.mirror")
    logger.propagate = False
    with open(victim, "a") as stream:
        handler = logging.StreamHandler(stream)
        logger.addHandler(handler)
        try:
            app = SimpleNamespace(log=logger, log_level=logging.INFO)
            server_log = serverlog.start(str(path), 1024, 0, app, logging.getLogger("x"))
            assert server_log.mirrored
            assert stat.S_IMODE(victim.stat().st_mode) == 0o644
        finally:
            logger.removeHandler(handler)
    # the same with the file itself at the path: narrowed, as before
    plain = tmp_path / "plain.txt"
    plain.write_text("")
    plain.chmod(0o644)
    with open(plain, "a") as stream:
        handler = logging.StreamHandler(stream)
        logger.addHandler(handler)
        try:
            serverlog.start(str(plain), 1024, 0, SimpleNamespace(log=logger),
                            logging.getLogger("x"))
        finally:
            logger.removeHandler(handler)
    assert stat.S_IMODE(plain.stat().st_mode) == 0o600


# --- two writers, one file ---------------------------------------------------------------


def test_a_rotation_by_another_server_is_followed_not_repeated(tmp_path):
    """A rotated the file while B held it open. B's next line goes into the new file (it
    used to see the old one full, rotate again and so delete A's newest lines), and A's next
    rotation keeps it: with one backup, everything since A's first rotation is kept."""
    path = tmp_path / LOG_NAME
    a = ServerLogHandler(str(path), 1024, 1, Masker(), origin="a 1")
    b = ServerLogHandler(str(path), 1024, 1, Masker(), origin="b 2")
    log_a, log_b = file_logger(a), file_logger(b)
    log_b.info("b starts")  # B holds the file open
    for i in range(12):
        log_a.info("a %02d %s", i, "x" * 80)  # 12 x ~150 bytes: A has rotated once
    assert (tmp_path / f"{LOG_NAME}.1").exists()
    since_rotation = path.read_text().splitlines()
    log_b.info("b after the rotation")
    for i in range(6):
        log_a.info("a again %02d %s", i, "x" * 80)  # A rotates again
    a.close()
    b.close()
    kept = (tmp_path / f"{LOG_NAME}.1").read_text() + path.read_text()
    lines = kept.splitlines()
    assert [x for x in since_rotation if x not in lines] == []
    assert [x.split("] ")[1][:10] for x in lines if "again" in x or "b after" in x] == [
        "b after th"] + [f"a again {i:02d}" for i in range(6)], kept
    assert re.search(r"^\[I \S+ \S+ b 2 test_serverlog_files\.\d+\] b after the rotation$",
                     kept, re.M), kept
    for f in tmp_path.iterdir():
        assert f.stat().st_size <= 1024, f


def test_a_file_emptied_by_another_server_is_not_emptied_again(tmp_path):
    """With no backups a full file is emptied in place: both servers hold the same file, so
    one emptying serves both."""
    path = tmp_path / LOG_NAME
    a = ServerLogHandler(str(path), 1024, 0, Masker(), origin="a 1")
    b = ServerLogHandler(str(path), 1024, 0, Masker(), origin="b 2")
    log_a, log_b = file_logger(a), file_logger(b)
    for i in range(20):
        (log_a if i % 2 else log_b).info("line %02d %s", i, "x" * 60)
        assert path.stat().st_size <= 1024
    a.close()
    b.close()
    assert "line 19" in path.read_text()


HUB_NAMES = {"one": "alice:one", "two": "alice:two"}
LINES_EACH = 120
CAP = 1024


def test_two_servers_one_file_through_rotations(launch, tmp_path):  # noqa: F811
    """Two named servers of one user on one home, each asked for LINES_EACH keep-alives at
    once, with a 1 KiB file: every decision line of both is in the file or a backup, exactly
    once, and says which server wrote it."""
    args = [f"--CullExt.server_log_max_bytes={CAP}", "--CullExt.server_log_backups=100"]
    servers = {name: launch(*args, env={"JUPYTERHUB_USER": "alice",
                                        "JUPYTERHUB_SERVER_NAME": name})
               for name in HUB_NAMES}
    home = Path(server_env(tmp_path)["HOME"])
    errors: list[str] = []

    def ask(name: str) -> None:
        with requests.Session() as session:
            session.headers["Authorization"] = servers[name].session.headers["Authorization"]
            for i in range(LINES_EACH):
                r = session.post(f"{servers[name].url}api/cull/keepalive",
                                 data=json.dumps({"seconds": 1000 + i}), timeout=10)
                if r.status_code != 200:
                    errors.append(f"{name} {i}: {r.status_code}")

    threads = [threading.Thread(target=ask, args=(name,)) for name in HUB_NAMES]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    for server in servers.values():
        server.stop()

    files = sorted(home.glob(f"{LOG_NAME}*"))
    assert 10 <= len(files) < 101, [f.name for f in files]  # rotated often, nothing dropped
    for f in files:
        assert f.stat().st_size <= CAP, (f.name, f.stat().st_size)
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    text = "".join(f.read_text() for f in files)
    for name, origin in HUB_NAMES.items():
        pid = servers[name].proc.pid
        assert f"{origin} {pid} ServerApp] Jupyter Server " in text, text[-3000:]
        found = Counter(re.findall(
            rf"^\[I \S+ \S+ {re.escape(origin)} {pid} CullExt\] Keep-alive requested for "
            r"(\d+:\d\d:\d\d) \(cap", text, re.M))
        expected = {_duration(1000 + i) for i in range(LINES_EACH)}
        assert set(found) == expected, (name, sorted(expected - set(found)))
        assert set(found.values()) == {1}, (name, found.most_common(3))


def _duration(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# --- a real server with something else at the path ---------------------------------------


@pytest.mark.parametrize("what, reason", [
    ("symlink", "symbolic link"),
    ("dangling-symlink", "symbolic link"),
    ("fifo", "named pipe"),
    pytest.param("other-owner", f"belongs to uid {OTHER_UID}", marks=as_root),
])
def test_the_server_starts_runs_and_culls_without_the_file(launch, tmp_path, what, reason):  # noqa: F811
    home = Path(server_env(tmp_path)["HOME"])
    victim = plant(home, what)
    before = snapshot(victim) if what in ("symlink", "other-owner") else None
    # backups=0: a full file would be emptied; the file is tiny so it would be at once
    server = launch("--CullExt.kernel_idle_timeout=2", "--CullExt.server_log_backups=0",
                    "--CullExt.server_log_max_bytes=1024")
    kid = server.start_kernel()
    deadline = time.monotonic() + 20
    while kid in {k["id"] for k in server.get("api/kernels").json()}:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.2)
    server.stop()

    out = server.log_path.read_text(errors="replace")
    warnings = [line for line in out.splitlines() if "cannot write the server log" in line]
    assert len(warnings) == 1, out
    assert str(home / LOG_NAME) in warnings[0] and reason in warnings[0], warnings
    assert f"Culling idle kernel {kid}" in out
    if what == "dangling-symlink":
        assert not victim.exists()
    elif what == "fifo":
        assert stat.S_ISFIFO(victim.stat().st_mode)
    else:
        assert snapshot(victim) == before
