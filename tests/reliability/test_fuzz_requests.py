"""Property: whatever body a client POSTs to any of our endpoints, the answer is 2xx or a
400 with a JSON ``message`` (never a 500, never a traceback), and culling is still on
afterwards: the status answers with its deadlines and timeouts, and no keep-alive reaches
beyond the operator's cap.

One in-process server (pytest-jupyter) takes every example; the POST endpoints are read from
its live routes. Bounded: ``MAX_EXAMPLES`` examples, which take a few seconds.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from conftest import parse_time
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .routes import live_routes

MAX_EXAMPLES = 100
KEEPALIVE_MAX = 600
CONFIG = {"CullExt": {"keepalive_max": KEEPALIVE_MAX, "server_idle_timeout": 3600,
                      "kernel_idle_timeout": 1800, "terminal_idle_timeout": 900}}

# Numbers a client may send: JSON's, Python's json module's extensions (NaN, Infinity), huge
# integers, and values around the cap and zero.
numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1, max_value=KEEPALIVE_MAX * 1.01),
    st.sampled_from([0, -0.0, KEEPALIVE_MAX, KEEPALIVE_MAX + 1, 5e-324, 1e308, -1e308]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=20))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
# What the endpoints look at: {"seconds": ...}, with noise around it.
seconds_objects = st.builds(
    lambda secs, extra: {**extra, "seconds": secs},
    st.one_of(numbers, json_values),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)


def encode(value: Any) -> bytes:
    # allow_nan: Python clients can send NaN/Infinity, and the server's json parses them.
    return json.dumps(value, allow_nan=True).encode()


bodies = st.one_of(
    seconds_objects.map(encode),
    json_values.map(encode),
    st.binary(max_size=64),  # not JSON, maybe not UTF-8
    st.text(max_size=40).map(str.encode),
    st.just(b""),
)


def post_routes(serverapp: Any) -> list[str]:
    ext = serverapp.web_app.settings["jupyter_cull_ext"]
    return sorted(r.path for r in live_routes(serverapp.web_app, ext) if "POST" in r.methods)


@pytest.mark.cull_config(CONFIG)
@settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(route=st.integers(min_value=0, max_value=99), body=bodies)
@example(route=None, body=b"[" * 100_000)  # nesting deeper than the JSON parser recurses
@example(route=None, body=b'{"seconds": ' + b"9" * 400 + b"}")  # an int too big for a float
@example(route=None, body=b'{"seconds": -' + b"9" * 400 + b"}")
@example(route=None, body=b'{"seconds": ' + b"9" * 5000 + b"}")  # past int digit limits
@example(route=None, body=b'{"seconds": 1e400}')  # parses as inf
@example(route=None, body=b'\xef\xbb\xbf{"seconds": 1}')  # a UTF-8 byte order mark
@example(route=None, body=b'{"seconds": 1}\x00')
def test_any_body_is_answered_cleanly_and_culling_stays_on(
    route: int | None, body: bytes, jp_serverapp: Any, jp_fetch: Any, jp_asyncio_loop: Any,
    fuzz_terminal: str,
) -> None:
    routes = post_routes(jp_serverapp)
    assert len(routes) >= 2, routes
    # explicit examples (route=None) go to every POST route
    targets = routes if route is None else [routes[route % len(routes)]]
    for path in targets:
        jp_asyncio_loop.run_until_complete(check(jp_fetch, path, body, fuzz_terminal))


@pytest.fixture
def fuzz_terminal(jp_fetch: Any, jp_asyncio_loop: Any) -> str:
    """A terminal, so the status has a kernel-or-terminal deadline to keep showing."""

    async def start() -> str:
        r = await jp_fetch("api", "terminals", method="POST", body="{}")
        return json.loads(r.body)["name"]

    return jp_asyncio_loop.run_until_complete(start())


async def check(jp_fetch: Any, path: str, body: bytes, terminal: str) -> None:
    parts = path.strip("/").split("/")[1:]  # below base_url (one segment here)
    r = await jp_fetch(*parts, method="POST", body=body, raise_error=False,
                       request_timeout=30)
    text = r.body.decode("utf-8", "replace")
    where = f"POST {path} with {body[:80]!r}"
    assert r.code != 500 and "Traceback" not in text, f"{where}: {r.code} {text[:500]}"
    if r.code == 400:
        reply = json.loads(text)
        assert isinstance(reply.get("message"), str) and reply["message"], (where, reply)
        assert "Unhandled" not in reply["message"], (where, reply)
    else:
        assert 200 <= r.code < 300, f"{where}: {r.code} {text[:500]}"
        json.loads(text)  # a status document

    r = await jp_fetch("api", "cull", "status")
    status = json.loads(r.body)
    server = status["server"]
    now = parse_time(status["now"])
    # The operator's settings are untouched and every deadline is still there.
    assert (server["idle_timeout"], server["keepalive_max"]) == (3600, KEEPALIVE_MAX), server
    assert status["settings"]["kernel_timeout"] == 1800, status
    assert status["settings"]["terminal_timeout"] == 900, status
    assert server["deadline"] is not None and server["reason"] == "idle", server
    (term,) = [t for t in status["terminals"] if t["name"] == terminal]
    assert term["deadline"] is not None, term
    limit = now + timedelta(seconds=KEEPALIVE_MAX + 1)
    if server["keepalive_until"] is not None:
        assert parse_time(server["keepalive_until"]) <= limit, (where, server)
    for when in (server["deadline"], term["deadline"]):
        # at most the idle timeout from now, or the keep-alive: never beyond the cap
        assert parse_time(when) <= max(limit, now + timedelta(seconds=3600)), (where, status)

