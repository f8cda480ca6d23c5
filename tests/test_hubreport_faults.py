"""The reporter against faults a real hub will not produce on demand (a hub answering 500),
and outside a hub. The stub is a real HTTP server on 127.0.0.1 that records each POST."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from conftest import wait_for
from prometheus_client import REGISTRY
from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from jupyter_cull_ext import hubreport
from jupyter_cull_ext.hubreport import HubReporter
from jupyter_cull_ext.knobs import ConfigError


class StubHub:
    """Answers ``codes`` in turn (then 200), recording every request; each answer comes
    ``delay`` seconds late (a slow hub; settable at any time)."""

    def __init__(self, codes: list[int], delay: float = 0.0):
        self.codes = list(codes)
        self.delay = delay
        self.requests: list[dict] = []
        stub = self

        class Activity(web.RequestHandler):
            async def post(self):
                stub.requests.append({"auth": self.request.headers.get("Authorization"),
                                      "body": json.loads(self.request.body)})
                if stub.delay:
                    await asyncio.sleep(stub.delay)
                self.set_status(stub.codes.pop(0) if stub.codes else 200)

        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.server = HTTPServer(web.Application([(r"/activity", Activity)]))
        self.server.add_sockets(sockets)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/activity"


@pytest.fixture
def fast(monkeypatch):
    """Shrink the reporter's clock constants so a test takes seconds."""
    monkeypatch.setattr(hubreport, "CHECK_EVERY", 0.1)
    monkeypatch.setattr(hubreport, "BACKOFF_START", 0.1)
    monkeypatch.setattr(hubreport, "BACKOFF_MAX", 0.4)


class Clock:
    def __init__(self):
        self.value = datetime.now(timezone.utc) - timedelta(seconds=30)

    def __call__(self) -> datetime:
        return self.value

    def tick(self) -> None:
        self.value = datetime.now(timezone.utc)


def reporter(stub: StubHub, clock: Clock, interval: float = 60) -> HubReporter:
    log = logging.getLogger("test-hubreport")
    return HubReporter(stub.url, "secret-token", "", interval, clock, log,
                       already_known=clock.value)


async def test_failures_back_off_log_once_and_recover(fast, caplog, jp_asyncio_loop):
    caplog.set_level(logging.INFO, logger="test-hubreport")
    stub = StubHub([500] * 5)
    clock = Clock()
    failed_before = REGISTRY.get_sample_value("jupyter_cull_ext_hub_reports_total",
                                              {"outcome": "failed"}) or 0
    r = reporter(stub, clock)
    r.start()
    try:
        await asyncio.sleep(0.3)
        assert stub.requests == []  # nothing new: nothing sent
        clock.tick()
        r.poke()
        # The 6th request reaching the stub is not yet its answer reaching the reporter.
        await wait_for(lambda: asyncio.sleep(0, len(stub.requests) >= 6 and r.last_report_ok),
                       timeout=10)
        assert r.last_report_ok is True and r.last_error is None
        assert r.sent == clock.value
        # 5 failures then 1 success; retries spaced by a growing backoff, not hammering
        assert len(stub.requests) == 6
        body = stub.requests[-1]["body"]
        ts = clock.value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        assert body == {"servers": {"": {"last_activity": ts}}, "last_activity": ts}
        assert stub.requests[0]["auth"] == "token secret-token"
        assert REGISTRY.get_sample_value("jupyter_cull_ext_hub_reports_total",
                                         {"outcome": "failed"}) == failed_before + 5
    finally:
        r.stop()
    ours = [rec for rec in caplog.records if rec.name == "test-hubreport"]
    errors = [rec for rec in ours if rec.levelno == logging.ERROR]
    assert len(errors) == 1 and "500" in errors[0].getMessage()
    assert any("succeed again after 5 failure(s)" in rec.getMessage()
               for rec in ours if rec.levelno == logging.INFO)
    assert all("secret-token" not in rec.getMessage() for rec in caplog.records)


async def test_at_most_one_report_per_interval_and_never_in_the_future(fast, jp_asyncio_loop):
    stub = StubHub([])
    clock = Clock()
    r = reporter(stub, clock, interval=0.8)
    r.start()
    try:
        end = asyncio.get_running_loop().time() + 2.5
        while asyncio.get_running_loop().time() < end:  # active the whole time
            clock.tick()
            r.poke()
            await asyncio.sleep(0.05)
        # 2.5 s of constant activity with a 0.8 s (±10 %) interval: 3 or 4 reports
        assert 3 <= len(stub.requests) <= 4, len(stub.requests)
        clock.value = datetime.now(timezone.utc) + timedelta(hours=1)
        await asyncio.sleep(1)
        sent = datetime.fromisoformat(stub.requests[-1]["body"]["last_activity"][:-1])
        assert sent.replace(tzinfo=timezone.utc) <= datetime.now(timezone.utc)
    finally:
        r.stop()


async def test_reports_go_on_after_the_wall_clock_jumps_back(fast, jp_asyncio_loop):
    """After a backward jump of an hour, new activity carries times an hour earlier than
    the one last sent (activity.Clock moves every recorded time with the jump): it must
    still be reported, not held back until the clock has caught up."""
    stub = StubHub([])
    clock = Clock()
    r = reporter(stub, clock, interval=0.3)
    r.start()
    try:
        clock.tick()
        r.poke()
        async def reports(n: int) -> bool:
            return len(stub.requests) == n

        await wait_for(lambda: reports(1), timeout=5)
        jump = timedelta(hours=-1)
        now = datetime.now(timezone.utc) + jump
        r.clock_jumped(jump, now, now)  # as activity.Clock calls its listeners
        clock.value = now + timedelta(seconds=1)  # new activity, in the new frame
        r.poke()
        await wait_for(lambda: reports(2), timeout=5)
        sent = stub.requests[-1]["body"]["last_activity"]
        sent_at = datetime.fromisoformat(sent.replace("Z", "+00:00"))
        assert abs((sent_at - clock.value).total_seconds()) < 0.01, (sent, clock.value)
    finally:
        r.stop()


async def test_outside_a_hub_reporting_is_off(status, caplog):
    hub = (await status())["hub"]
    assert hub["reporting"] is False and hub["last_report"] is None
    assert hubreport.reporter_from_env({}, None, lambda: None, None) is None


def test_jitter_stays_within_ten_percent():
    assert hubreport.jittered(300, lambda: 0.0) == pytest.approx(270)
    assert hubreport.jittered(300, lambda: 1.0) == pytest.approx(330)


def test_interval_comes_from_the_environment_like_singleuser():
    env = {"JUPYTERHUB_ACTIVITY_URL": "http://hub/api/users/a/activity",
           "JUPYTERHUB_API_TOKEN": "t", "JUPYTERHUB_ACTIVITY_INTERVAL": "42",
           "JUPYTERHUB_SERVER_NAME": "gpu"}
    r = hubreport.reporter_from_env(env, None, lambda: None, None)
    assert (r.interval, r.server_name) == (42, "gpu")
    assert hubreport.reporter_from_env(env, 7, lambda: None, None).interval == 7
    assert hubreport.reporter_from_env(env, 0, lambda: None, None) is None  # 0: off
    assert hubreport.reporter_from_env({**env, "JUPYTERHUB_ACTIVITY_INTERVAL": "0"}, None,
                                       lambda: None, None) is None
    for bad in ("soon", "-5", "inf", "nan"):
        with pytest.raises(ConfigError, match=f"JUPYTERHUB_ACTIVITY_INTERVAL='{bad}'"):
            hubreport.reporter_from_env({**env, "JUPYTERHUB_ACTIVITY_INTERVAL": bad}, None,
                                        lambda: None, None)
