"""The server shows its clock's skew against the hub's (``hub.clock_skew_seconds`` in
``api/cull/status``), read from the ``Date`` header of the hub's answers to its activity
reports: the server warns and saves on its own clock, the companion stops it on the hub's.

A real JupyterHub and a real ``jupyterhub-singleuser`` server. Two clocks on one machine do not
differ, so the hub's ``Date`` header is moved by the seconds in ``<hub root>/clock-offset``
(the one stub: that header is all the server reads of the hub's clock).
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hubharness import Hub, wait_until
from hubtools import request_spawn, wait_ready

from jupyter_cull_ext.hubreport import clock_skew

SHIFT_DATE_HEADER = """
import tornado.httputil
from pathlib import Path

_format_timestamp = tornado.httputil.format_timestamp

def _shifted(ts):
    offset = Path({path!r})
    if isinstance(ts, (int, float)) and offset.exists():
        ts += float(offset.read_text())
    return _format_timestamp(ts)

tornado.httputil.format_timestamp = _shifted
# Spawn requests return at once (202), however long a busy machine takes to start a server.
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0}}
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("skewhub")
    h = Hub(root, config=SHIFT_DATE_HEADER.format(path=str(root / "clock-offset")),
            spawner_env={"JUPYTERHUB_ACTIVITY_INTERVAL": "2"})
    h.start()
    yield h
    h.close()


def hub_status(hub: Hub, name: str) -> dict:
    code, doc = hub.server_api("GET", name, "api/cull/status")
    assert code == 200, doc
    return doc["hub"]


def skew_after_a_report(hub: Hub, name: str, offset: float) -> int:
    (hub.root / "clock-offset").write_text(str(offset))
    reports = hub_status(hub, name)["reports"]
    code, _ = hub.server_api("POST", name, "api/cull/activity", {})
    assert code == 200
    wait_until(lambda: hub_status(hub, name)["reports"] > reports, 15, what="a report")
    return hub_status(hub, name)["clock_skew_seconds"]


def test_the_status_shows_the_servers_clock_skew_against_the_hubs(hub: Hub):
    request_spawn(hub, "sam")
    wait_ready(hub, "sam")
    status = hub_status(hub, "sam")
    assert (status["reports"], status["clock_skew_seconds"]) == (0, None)  # not known yet
    assert abs(skew_after_a_report(hub, "sam", 30) - 30) <= 1  # the hub runs 30 s ahead
    assert abs(skew_after_a_report(hub, "sam", -45) + 45) <= 1  # 45 s behind
    assert abs(skew_after_a_report(hub, "sam", 0)) <= 1


def test_skew_is_whole_seconds_from_a_header_truncated_to_the_second():
    sent = datetime(2026, 12, 2, 4, 0, 0, 200000, tzinfo=timezone.utc)
    received = sent.replace(microsecond=400000)
    # The hub stamped 04:00:30 (truncated) between 04:00:00.2 and 04:00:00.4 of ours: its clock
    # is between 29.6 and 30.8 s ahead.
    assert clock_skew("Wed, 02 Dec 2026 04:00:30 GMT", sent, received) == 30
    assert clock_skew("Wed, 02 Dec 2026 03:59:15 GMT", sent, received) == -45
    for bad in (None, "", "yesterday", "Wed, 02 Dec 2026 04:00:30 -0000"):
        assert clock_skew(bad, sent, received) is None
