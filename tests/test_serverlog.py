"""``~/.jupyter-server-log.txt`` and the culling events.

Pure parts first (masking, the rotation policy), then the file handler on real files, then a
pytest-jupyter server (whose ``HOME`` is a fresh temporary folder, so the default path is
used), then real ``jupyter server`` processes for what an in-process server cannot do: stop
itself, or have its stdout and stderr appended to the file by a shell (repo2docker).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
import stat
import subprocess
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from conftest import wait_for
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_server_process import (  # noqa: F401 (launch is a fixture)
    TOKEN,
    free_port,
    jupyter_command,
    launch,
    server_env,
)
from tornado.httpclient import HTTPClientError

from jupyter_cull_ext import policy
from jupyter_cull_ext.activity import ActivityTracker
from jupyter_cull_ext.announce import Announcer
from jupyter_cull_ext.enforce import Enforcer
from jupyter_cull_ext.events import SCHEMA_ID, CullEvents
from jupyter_cull_ext.logfile import fit, rotation_plan, rotation_renames
from jupyter_cull_ext.logmask import MASK, Masker, mask_patterns
from jupyter_cull_ext.serverlog import ServerLogHandler, server_origin

LOG_NAME = ".jupyter-server-log.txt"
SECRET = "s3cr3t-abcdef0123456789"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- masking -----------------------------------------------------------------------------


@pytest.mark.parametrize("line", [
    f"302 GET /lab?token={SECRET} (127.0.0.1) 2.1ms",
    f"http://127.0.0.1:8888/lab/tree?foo=1&token={SECRET}&bar=2",
    f"POST /login with _xsrf={SECRET}",
    f"env: JUPYTERHUB_API_TOKEN={SECRET} JUPYTERHUB_USER=alice",
    f"Authorization: token {SECRET}",
    f"Authorization: Bearer {SECRET}",
    f"headers {{'Authorization': 'token {SECRET}', 'Host': 'localhost'}}",
    f"Cookie: _xsrf=2|abc; jupyterhub-session-id={SECRET}",
    f'body {{"token": "{SECRET}", "name": "x"}}',
    # headers as a proxy or a debugging extension logs them
    f"X-XSRFToken: 2|abcdef|{SECRET}|1767225600",
    f"x-xsrftoken:2|abcdef|{SECRET}",
    # a JSON dump of request headers (jupyter_server logs a few after a 5xx; an extension
    # or a debugging hook may dump them all)
    json.dumps({"Host": "hub.example.org", "X-Xsrftoken": f"2|ab|{SECRET}|1767225600",
                "Cookie": f"_xsrf=2|ab|{SECRET}; jupyterhub-session-id=cafe"}, indent=2),
    json.dumps({"Cookie": f'_xsrf="2|ab|{SECRET}|1767225600"'}),  # escaped quotes
    # NAME: value, quoted values, as `env`, YAML and shells write them
    f"GITHUB_TOKEN: ghp_{SECRET}",
    f"  github_token: '{SECRET}'",
    f'export GITHUB_TOKEN="{SECRET}"',
    f"--ServerApp.token='{SECRET}'",
    json.dumps({"argv": f'--IdentityProvider.token="{SECRET}"'}),
    # quoted cookie values: the whole value, not just up to the quote
    f'Cookie: _xsrf="2|abcdef|{SECRET}|1767225600"; jupyterhub-session-id=cafe',
    f"Set-Cookie: _xsrf=\"2|{SECRET}\"; Path=/; SameSite=Lax",
    f"""headers {{'Cookie': '_xsrf="2|{SECRET}"', 'Host': 'localhost'}}""",
    # credentials in URLs, as jupyterlab-git and pip log them
    f"git push https://alice:{SECRET}@github.com/alice/repo.git",
    f"Collecting pkg from git+https://ghp_{SECRET}@github.com/org/pkg.git",
    f"Looking in indexes: https://__token__:{SECRET}@pypi.example.org/simple",
])
def test_credentials_are_masked(line):
    masked = Masker()(line)
    assert SECRET not in masked and MASK in masked, masked


@pytest.mark.parametrize("line, masked", [
    (f"X-XSRFToken: 2|abcdef|{SECRET}", "X-XSRFToken: [secret]"),
    (f"GITHUB_TOKEN: ghp_{SECRET}", "GITHUB_TOKEN: [secret]"),
    (f'Cookie: _xsrf="2|{SECRET}"', "Cookie: [secret]"),
    (f'export GITHUB_TOKEN="{SECRET}"', 'export GITHUB_TOKEN="[secret]"'),
    (f"https://alice:{SECRET}@host/x", "https://alice:[secret]@host/x"),
    (f'"X-Xsrftoken": "2|{SECRET}",', '"X-Xsrftoken": "[secret]",'),
])
def test_masking_keeps_the_name_and_the_shape(line, masked):
    assert Masker()(line) == masked


def test_literal_secrets_are_masked_wherever_they_appear():
    masker = Masker(["short", None, SECRET])
    assert masker(f"kernel said {SECRET}!") == f"kernel said {MASK}!"
    assert masker("a short word") == "a short word"  # too short to be a secret


def test_ordinary_lines_are_left_alone():
    for line in [
        "Culling idle kernel 3f2 (python3): idle for 0:00:02 >= timeout 0:00:02.",
        "Writing Jupyter server cookie secret to /home/jovyan/.local/share/jupyter/runtime",
        "200 GET /api/kernels?no_track_activity=1 (127.0.0.1) 1.2ms",
        "http://127.0.0.1:8888/lab?token=[secret]",
        "Jupyter Server 2.21.1 is running at: http://127.0.0.1:8888/lab",
        "302 GET /hub/user/alice@example.org/lab (alice@10.0.0.7) 1.20ms",
        "Cloning https://github.com/jupyter/notebook.git into notebook",
        "[Errno 2] No such file: '/home/alice/.local/share/jupyter/runtime/kernel-1.json'",
    ]:
        assert Masker()(line) == line


_WORDS = ["token", "ToKeN", "secret", "passwd", "PASSWORD", "_xsrf", "api_key", "apikey",
          "Authorization", "proxy-authorization", "Set-Cookie", "cookie", "Bearer", "ſecret",
          "X-XSRFToken", "GITHUB_TOKEN", "https://", "git+ssh://", "://", "alice", "@", ":",
          "=", ": ", "'", '"', "\\", '\\"', " ", "\n", "&", "|", "/", "?", "#",
          "abc123", "K", "İ", "ß"]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_WORDS), st.text(max_size=6)), max_size=12))
@example(["ſecret", "=", "abc123"])
@example(["bearer", " ", "abc123"])
@example(["X-XSRFToken", ": ", "abc123"])
@example(["https://", "alice", ":", "abc123", "@", "host"])
@example(["HTTPS://", "ſecret", "@", "host"])
@example(["cookie", ": ", '"', "abc123", '\\"', "abc123", '"'])
def test_the_quick_check_never_changes_what_is_masked(parts):
    """Lines with no credential word skip the patterns: the result must be the same as
    running every pattern."""
    line = "".join(parts)
    assert Masker()(line) == mask_patterns(line)


# --- which server wrote a line ---------------------------------------------------------


def test_a_line_names_its_server_as_the_hub_does_and_its_process():
    hub = {"JUPYTERHUB_USER": "alice", "JUPYTERHUB_SERVER_NAME": ""}
    assert server_origin(hub, pid=7, host="x") == "alice 7"
    assert server_origin({**hub, "JUPYTERHUB_SERVER_NAME": "gpu"}, pid=7) == "alice:gpu 7"
    assert server_origin({}, pid=4711, host="login01.cluster.example.org") == "login01 4711"
    # one word: the head of a line is "[L date time origin pid logger]"
    assert server_origin({"JUPYTERHUB_USER": "a b]"}, pid=1) == "a_b_ 1"


# --- rotation ----------------------------------------------------------------------------


@pytest.mark.parametrize("size, incoming, cap, plan", [
    (0, 10, 100, (False, 10)),
    (90, 10, 100, (False, 10)),    # exactly at the cap is allowed
    (91, 10, 100, (True, 10)),     # rotate first
    (0, 150, 100, (False, 100)),   # too big for any file: cut, nothing to rotate
    (50, 150, 100, (True, 100)),
    (500, 1, 100, (True, 1)),      # a file that grew past the cap elsewhere
])
def test_rotation_plan(size, incoming, cap, plan):
    assert rotation_plan(size, incoming, cap) == plan


def test_fit_cuts_on_a_character_boundary():
    assert fit(b"short\n", 100) == b"short\n"
    cut = fit(("é" * 50).encode(), 20)
    assert len(cut) <= 20 and cut.endswith(b" [cut]\n")
    cut.decode("utf-8")


def test_rotation_renames_oldest_first():
    assert rotation_renames("f", 0) == []
    assert rotation_renames("f", 2) == [("f.1", "f.2"), ("f", "f.1")]


def file_logger(handler: ServerLogHandler) -> logging.Logger:
    logger = logging.getLogger(f"test_serverlog.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    return logger


@pytest.mark.parametrize("backups", [0, 2])
def test_the_file_never_grows_past_its_cap(tmp_path, backups):
    path = tmp_path / LOG_NAME
    handler = ServerLogHandler(str(path), 1024, backups, Masker())
    log = file_logger(handler)
    sizes = []
    for i in range(300):
        log.info("line %d %s", i, "x" * (i % 97))
        sizes.append(path.stat().st_size)
    log.info("huge %s", "y" * 5000)
    sizes.append(path.stat().st_size)
    handler.close()

    assert max(sizes) <= 1024 and path.read_text().endswith(" [cut]\n")
    files = sorted(tmp_path.iterdir())
    assert [f.name for f in files] == [LOG_NAME] + [f"{LOG_NAME}.{i}" for i in
                                                    range(1, backups + 1)]
    for f in files:
        assert f.stat().st_size <= 1024 and mode(f) == 0o600
    if backups:
        assert "line 299" in (tmp_path / f"{LOG_NAME}.1").read_text()


def test_an_existing_wider_file_is_made_private(tmp_path):
    path = tmp_path / LOG_NAME
    path.write_text("from the start script\n")
    path.chmod(0o644)
    handler = ServerLogHandler(str(path), 4096, 1, Masker())
    handler.open()
    file_logger(handler).info("hello")
    handler.close()
    assert mode(path) == 0o600
    assert path.read_text().startswith("from the start script\n[I ")


def test_a_deleted_file_is_recreated(tmp_path):
    path = tmp_path / LOG_NAME
    handler = ServerLogHandler(str(path), 4096, 1, Masker())
    log = file_logger(handler)
    log.info("one")
    path.unlink()
    log.info("two")
    handler.close()
    assert "two" in path.read_text() and mode(path) == 0o600


@pytest.mark.parametrize("where", ["directory", "under-a-file", "full-disk"])
def test_an_unwritable_file_is_one_warning_and_never_an_error(tmp_path, capfd, where):
    # All of these fail for root too (tests run as root, which ignores permission bits).
    if where == "directory":
        path = tmp_path / LOG_NAME
        path.mkdir()
    elif where == "under-a-file":
        (tmp_path / "home").write_text("")
        path = tmp_path / "home" / LOG_NAME
    else:
        path = Path("/dev/full")  # every write fails with ENOSPC
    handler = ServerLogHandler(str(path), 4096, 1, Masker())
    log = file_logger(handler)
    for i in range(3):
        log.warning("line %d", i)
    handler.close()
    err = capfd.readouterr().err
    assert err.count("cannot write the server log") == 1, err
    assert handler.lost == 3


# --- decisions and events --------------------------------------------------------------


def test_a_warning_once_per_deadline_when_warn_at_has_passed():
    events = []
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    tracker = ActivityTracker(start)
    announce = Announcer(logging.getLogger("test_serverlog"),
                         emit=lambda kind, **fields: events.append((kind, fields)))
    enforcer = Enforcer(None, tracker, announce)
    settings = policy.Settings(server_timeout=100, warn_before=10)

    def look(seconds_after_start: float, last: float = 1) -> None:
        facts = policy.Facts(now=start + timedelta(seconds=seconds_after_start),
                             activity={policy.SERVER_START: start,
                                       policy.PRESENCE: start + timedelta(seconds=last)})
        asyncio.run(enforcer.enforce(policy.decide(facts, settings)))

    look(90)  # warn_at (91) not yet reached
    look(92)
    look(95)  # same deadline: no second warning
    look(195, last=100)  # activity moved the deadline, and its warn_at has passed
    assert [k for k, _ in events] == ["warning", "warning"]
    kind, first = events[0]
    assert first["reason"] == "idle" and first["seconds_left"] == 9
    assert first["deadline"] == "2026-01-01T00:01:41.000Z"
    assert first["last_activity_source"] == policy.PRESENCE
    assert first["msg"].startswith("Server will stop in 0:00:09 (at 2026-01-01T00:01:41.000Z)")


async def test_the_hub_reporters_events_fit_the_schema_and_bad_ones_never_raise(caplog):
    from jupyter_events import EventLogger

    received = []

    async def listener(logger, schema_id, data):
        received.append(data)

    event_logger = EventLogger()
    events = CullEvents(event_logger, logging.getLogger("test_serverlog"))
    event_logger.add_listener(schema_id=SCHEMA_ID, listener=listener)
    # what hubreport.HubReporter passes as on_event
    events.emit("hub_report_failing", error="HTTPError: HTTP 503: Service Unavailable")
    events.emit("hub_report_recovered", failures=3, seconds=12.5)
    events.emit("kernel_culled", idle_seconds="long")  # not a number: logged, not raised
    await asyncio.sleep(0.05)
    assert received == [
        {"action": "hub_report_failing", "by": "culler",
         "error": "HTTPError: HTTP 503: Service Unavailable"},
        {"action": "hub_report_recovered", "by": "culler", "failures": 3, "seconds": 12.5},
    ]
    assert "could not emit the kernel_culled event" in caplog.text


# --- a server in this process ------------------------------------------------------------


@pytest.fixture
def server_log(jp_home_dir):
    """The file's text, from the default path under the test server's HOME."""
    return lambda: (jp_home_dir / LOG_NAME).read_text()


@pytest.fixture
def events(jp_serverapp):
    received = []

    async def listener(logger, schema_id, data):
        received.append(data)

    jp_serverapp.event_logger.add_listener(schema_id=SCHEMA_ID, listener=listener)
    return received


async def test_the_file_is_private_and_shows_the_server_start(jp_serverapp, jp_home_dir,
                                                              server_log):
    path = jp_home_dir / LOG_NAME
    assert os.environ["HOME"] == str(jp_home_dir)
    assert mode(path) == 0o600
    text = server_log()
    assert f"jupyter_cull_ext: writing the server log to {path}" in text
    assert re.search(rf"^\[I \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}}[+-]\d\d:\d\d "
                     rf"{re.escape(server_origin(os.environ))} ServerApp\] "
                     r"jupyter_cull_ext \| extension was successfully loaded", text, re.M), text
    assert "jupyter_cull_ext: kernels idle" in text  # the effective settings, at start


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 2, "terminal_idle_timeout": 2}})
async def test_culls_are_lines_with_reasons_and_events(
    jp_fetch, jp_serverapp, start_kernel, events, server_log
):
    r = await jp_fetch("api", "sessions", method="POST", body=json.dumps({
        "path": "work/analysis.ipynb", "type": "notebook", "kernel": {"name": "python3"}}))
    kid = json.loads(r.body)["kernel"]["id"]
    r = await jp_fetch("api", "terminals", method="POST", body="{}")
    term = json.loads(r.body)["name"]
    # A user's shutdown is not ours: no event, no "Culling" line.
    other = await start_kernel()
    await jp_fetch("api", "kernels", other, method="DELETE")

    async def both_culled():
        return {e["action"] for e in events} >= {"kernel_culled", "terminal_culled"}

    await wait_for(both_culled, timeout=15)
    (kernel,) = [e for e in events if e["action"] == "kernel_culled"]
    assert kernel["kernel_id"] == kid and kernel["kernel_name"] == "python3"
    assert kernel["path"] == "work/analysis.ipynb" and kernel["reason"] == "idle"
    assert kernel["by"] == "culler" and kernel["timeout_seconds"] == 2
    assert 2 <= kernel["idle_seconds"] < 5
    (terminal,) = [e for e in events if e["action"] == "terminal_culled"]
    assert terminal["terminal"] == term and terminal["timeout_seconds"] == 2

    text = server_log()
    assert re.search(rf"Culling idle kernel {kid} \(python3, session 'work/analysis.ipynb'\): "
                     r"idle for 0:00:0\d >= timeout 0:00:02", text), text
    assert re.search(rf"Culling idle terminal {term}: idle for 0:00:0\d >= timeout 0:00:02",
                     text), text
    assert kernel["msg"] in text
    assert other not in "".join(line for line in text.splitlines() if "Culling" in line)


async def test_keepalive_requests_are_lines_and_events(jp_fetch, events, server_log):
    await jp_fetch("api", "cull", "keepalive", method="POST", body='{"seconds": 600}')
    await jp_fetch("api", "cull", "keepalive", method="POST", body='{"seconds": 0}')
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("api", "cull", "keepalive", method="POST", body='{"seconds": 1e9}')
    assert e.value.code == 400

    async def three():
        return len(events) >= 3 and events

    got = await wait_for(three, timeout=5)
    assert [(e["action"], e["by"]) for e in got] == [
        ("keepalive_requested", "user"), ("keepalive_cancelled", "user"),
        ("keepalive_refused", "user")]
    assert got[0]["requested_seconds"] == 600 and got[0]["cap_seconds"] == 86400
    text = server_log()
    assert "Keep-alive requested for 0:10:00 (cap 1 day, 0:00:00)" in text
    assert "Keep-alive cancelled" in text
    assert "Keep-alive refused: keep-alive of 1e+09 s exceeds the operator's cap" in text


async def test_no_secret_reaches_the_file(jp_fetch, jp_serverapp, server_log):
    token = jp_serverapp.identity_provider.token
    assert len(token) >= 8
    with pytest.raises(HTTPClientError):
        await jp_fetch("no", "such", "page", params={"token": token})
    log = jp_serverapp.log
    log.info("visit http://localhost/lab?token=%s", token)
    log.info("request headers %s", {"Authorization": f"token {token}",
                                    "Cookie": f"_xsrf=2|{SECRET}; session=x"})
    log.warning("the token is %s", token)  # masked as a literal: it is the server's token
    log.info("env JUPYTERHUB_API_TOKEN=%s", SECRET)
    text = server_log()
    assert "the token is [secret]" in text
    assert token not in text and SECRET not in text


class TestUnwritableHome:
    @pytest.fixture
    def jp_home_dir(self, tmp_path):
        """A HOME nothing can be created in, even by root: it is under a regular file."""
        blocker = tmp_path / "not-a-directory"
        blocker.write_text("")
        return blocker / "home"

    # IPython (looking for kernelspecs in ~/.ipython) warns about the same HOME; expected.
    @pytest.mark.filterwarnings("ignore:IPython parent .* is not a writable location:UserWarning")
    @pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 2}})
    async def test_the_server_runs_and_still_culls(self, capfd, jp_home_dir, start_kernel,
                                                   jp_fetch):
        kid = await start_kernel()

        async def gone():
            r = await jp_fetch("api", "kernels")
            return kid not in {k["id"] for k in json.loads(r.body)}

        await wait_for(gone, timeout=15)
        err = capfd.readouterr().err
        assert err.count("jupyter_cull_ext: cannot write the server log") == 1, err
        assert str(jp_home_dir / LOG_NAME) in err


# --- real server processes ---------------------------------------------------------------


def test_a_session_in_the_file_from_start_to_stop(launch, tmp_path):
    server = launch("--MappingKernelManager.cull_idle_timeout=2",
                    "--ServerApp.shutdown_no_activity_timeout=5",
                    "--ServerApp.log_level=DEBUG")
    home = Path(server_env(tmp_path)["HOME"])
    # Credentials in URLs and headers, as browsers and scripts send them.
    assert requests.get(f"{server.url}api/kernels?token={TOKEN}", timeout=5).ok
    assert requests.get(f"{server.url}nope?token={TOKEN}", timeout=5).status_code == 404
    r = server.post("api/sessions", {"path": "lifecycle.ipynb", "type": "notebook",
                                     "kernel": {"name": "python3"}})
    assert r.status_code == 201, r.text
    kid = r.json()["kernel"]["id"]
    assert server.wait_exit(30) == 0, server.log()

    path = home / LOG_NAME
    assert mode(path) == 0o600
    text = path.read_text()
    assert TOKEN not in text
    started = text.index("Jupyter Server ")
    culled = re.search(rf"Culling idle kernel {kid} \(python3, session 'lifecycle.ipynb'\): "
                       r"idle for 0:00:0\d >= timeout 0:00:02\.", text)
    warned = re.search(r"Server will stop in 0:00:0\d \(at \S+\): idle since \S+ "
                       r"\(last activity: \w+\), timeout 0:00:05\.", text)
    stopped = re.search(r"Stopping server: idle for 0:00:0\d >= timeout 0:00:05 "
                        r"\(last activity: \w+ at \S+\)", text)
    assert culled and warned and stopped, text
    assert started < culled.start() < stopped.start()


def test_output_already_going_to_the_file_is_not_written_twice(tmp_path):
    """repo2docker's start script: ``exec "$@" >> ~/.jupyter-server-log.txt 2>&1``."""
    env = server_env(tmp_path)
    path = Path(env["HOME"]) / LOG_NAME
    url = f"http://127.0.0.1:{free_port()}/"
    proc = subprocess.Popen(
        ["sh", "-c", f'exec "$@" >> "$HOME/{LOG_NAME}" 2>&1', "sh", *jupyter_command(),
         "server", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={url.split(':')[2][:-1]}",
         "--ServerApp.port_retries=0", "--ServerApp.allow_root=True",
         "--ServerApp.open_browser=False", f"--ServerApp.root_dir={tmp_path}"],
        cwd=tmp_path, env=env, stdin=subprocess.DEVNULL,
    )
    try:
        limit = time.monotonic() + 30
        while not list((tmp_path / "runtime").glob("jpserver-*.json")):
            assert proc.poll() is None and time.monotonic() < limit, path.read_text()
            time.sleep(0.1)
        info = next((tmp_path / "runtime").glob("jpserver-*.json")).read_text()
        token = json.loads(info)["token"]  # generated, so the server prints it in full
        assert len(token) >= 32
        # The info file is written just before the server's loop binds its port: wait for it.
        while True:
            try:
                assert requests.get(f"{url}api/kernels?token={token}", timeout=5).ok
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < limit, path.read_text()
                time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)

    text = path.read_text()
    assert mode(path) == 0o600  # the shell created it with the umask
    assert text.count("already goes to") == 1, text
    assert token not in text
    assert "is running at" in text and f"{url}?token=[secret]" in text
    # jupyter_server's format ("[I 2026-01-01 12:00:00.123 ServerApp]") only: ours has an
    # offset after the time, and no message is there twice.
    assert not re.search(r"^\[\w [\d-]+ [\d:.]+[+-]\d\d:\d\d ", text, re.M), text
    messages = [re.sub(r"^\[\w [^\]]*\] ", "", line) for line in text.splitlines()
                if line.startswith("[")]
    assert len(messages) > 10
    assert [m for m, n in Counter(messages).items() if n > 1] == [], text
