"""A server that stops itself asks the hub to stop it (``hubstop``); a hub that takes the
request but never answers must not keep it up: it exits by itself ``hubstop.WAIT`` seconds
later at most, and says why. (A hub that answers, with or without the scope, is a real
JupyterHub in ``test_hub_reporting.py`` and ``tests/hub/test_max_age_servers.py``; a real
hub cannot be made to hang on demand, so here it is a socket that reads and never replies.)
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest
from test_server_process import (  # noqa: F401 (launch is a fixture)
    EARLY,
    LATE,
    launch,
    wall,
    watch_exit,
)

from jupyter_cull_ext import hubstop

HUB_TOKEN = "hub-token-that-must-not-be-logged-42"


class SilentHub:
    """Accepts connections and reads requests, never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[bytes] = []
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self._held.append(conn)
            conn.settimeout(5)
            try:
                self.requests.append(conn.recv(65536))
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def silent_hub() -> Iterator[SilentHub]:
    hub = SilentHub()
    yield hub
    hub.close()


def test_a_hub_that_never_answers_delays_the_stop_by_its_wait_at_most(
    launch: Callable, silent_hub: SilentHub  # noqa: F811
) -> None:
    server = launch("--ServerApp.shutdown_no_activity_timeout=3", env={
        "JUPYTERHUB_API_URL": f"http://127.0.0.1:{silent_hub.port}/hub/api",
        "JUPYTERHUB_API_TOKEN": HUB_TOKEN,
        "JUPYTERHUB_USER": "zoë",
        "JUPYTERHUB_SERVER_NAME": "gpu",
    })
    deadline = wall(server.status()["server"]["deadline"])
    last_running, exited = watch_exit(server, limit=deadline + hubstop.WAIT + LATE + 5)
    log = server.log()
    assert deadline - last_running <= EARLY, log
    assert exited - deadline <= hubstop.WAIT + LATE, (exited - deadline, log)
    # It asked for its own named server, with its own token...
    [request] = silent_hub.requests
    assert request.startswith(b"DELETE /hub/api/users/zo%C3%AB/servers/gpu HTTP/1.1"), request
    assert f"Authorization: token {HUB_TOKEN}".encode() in request, request
    # ...and says why the hub was not the one that stopped it, without the token.
    assert "The hub could not stop this server (no answer within 2 s): it exits by itself" in log
    assert HUB_TOKEN not in log
