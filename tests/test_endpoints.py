"""The three endpoints (``GET api/cull/status``, ``POST api/cull/activity``,
``POST api/cull/keepalive``) in a real in-process jupyter_server: authentication,
authorization, keep-alive validation and effect, presence, that polling them is never
activity, and that every document they answer with matches the published JSON Schema.

Server idle timeouts here are 0 or 3600 s: an idle stop in-process would stop the test's
event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest
from conftest import parse_time, wait_for
from jupyter_server.auth import Authorizer
from tornado import web
from tornado.httpclient import HTTPClientError
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from jupyter_cull_ext import status as status_doc
from jupyter_cull_ext.handlers import AUTH_RESOURCE

ENDPOINTS = [
    # (method, path, body)
    ("GET", "api/cull/status", None),
    ("POST", "api/cull/activity", "{}"),
    ("POST", "api/cull/keepalive", json.dumps({"seconds": 600})),
]
POSTS = [e for e in ENDPOINTS if e[0] == "POST"]


def now() -> datetime:
    return datetime.now(timezone.utc)


def seconds_between(a: datetime, b: datetime) -> float:
    return (b - a).total_seconds()


def iso_z(when: datetime) -> str:
    return when.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


VALIDATOR = jsonschema.Draft202012Validator(status_doc.schema())


def valid(doc: dict) -> dict:
    """``doc``, after checking it against the published schema of the status document."""
    VALIDATOR.validate(doc)
    return doc


@pytest.fixture
def status(status: Any):
    """GET api/cull/status, checked against the schema (every test here checks it)."""

    async def get() -> dict:
        return valid(await status())

    return get


@pytest.fixture
def post(jp_fetch: Any):
    """POST a body (a str is sent as is, anything else as JSON) to an api/cull endpoint;
    returns the decoded JSON reply, checked against the schema."""

    async def send(endpoint: str, body: Any = None) -> dict:
        raw = body if isinstance(body, str) else ("" if body is None else json.dumps(body))
        r = await jp_fetch("api", "cull", endpoint, method="POST", body=raw)
        assert r.code == 200
        return valid(json.loads(r.body))

    return send


@pytest.fixture
def post_error(jp_fetch: Any):
    """POST that must fail; returns ``(code, message)`` of the JSON error reply."""

    async def send(endpoint: str, body: Any) -> tuple[int, str]:
        raw = body if isinstance(body, str) else json.dumps(body)
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch("api", "cull", endpoint, method="POST", body=raw)
        return e.value.code, json.loads(e.value.response.body)["message"]

    return send


@pytest.fixture
def keepalive(post: Any):
    async def send(secs: Any) -> dict:
        return await post("keepalive", {"seconds": secs})

    return send


# --- authentication -----------------------------------------------------------------------


@pytest.fixture
def unauthenticated(http_server_client: Any, jp_base_url: str):
    """A request carrying no token and no cookie; returns the response, never raises."""

    async def fetch(method: str, path: str, body: str | None) -> Any:
        return await http_server_client.fetch(
            jp_base_url + path, method=method, body=body, raise_error=False,
            follow_redirects=False, request_timeout=20,
        )

    return fetch


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS, ids=lambda v: str(v)[:20])
async def test_unauthenticated_is_refused(
    unauthenticated: Any, status: Any, method: str, path: str, body: str | None
) -> None:
    r = await unauthenticated(method, path, body)
    assert r.code == 403
    after = (await status())["server"]
    assert after["keepalive_until"] is None
    assert after["last_activity_source"] != "presence"


async def test_empty_authorization_header_is_refused(jp_fetch: Any, status: Any) -> None:
    """jp_fetch keeps an explicitly given (empty) Authorization header."""
    for method, path, body in ENDPOINTS:
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch(*path.split("/"), method=method, body=body,
                           headers={"Authorization": ""})
        assert e.value.code == 403, (method, path)
    after = (await status())["server"]
    assert after["keepalive_until"] is None
    assert after["last_activity_source"] != "presence"


async def test_wrong_token_is_refused(jp_fetch: Any) -> None:
    for method, path, body in ENDPOINTS:
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch(*path.split("/"), method=method, body=body,
                           headers={"Authorization": "token not-the-token"})
        assert e.value.code == 403, (method, path)


# --- authorization ------------------------------------------------------------------------


class RecordingAuthorizer(Authorizer):
    """Allows everything but what ``allowed_on_cull`` says about resource "cull"; records
    every (method, path, action) asked about "cull"."""

    allowed_on_cull: frozenset[str] = frozenset()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.calls: list[tuple[str, str, str]] = []

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        if resource != AUTH_RESOURCE:
            return True
        path = handler.request.path
        self.calls.append((handler.request.method, path[path.index("api/"):], action))
        return action in self.allowed_on_cull


class DenyCull(RecordingAuthorizer):
    allowed_on_cull = frozenset()


class ReadOnlyCull(RecordingAuthorizer):
    allowed_on_cull = frozenset({"read"})


EXPECTED_CALLS = [
    ("GET", "api/cull/status", "read"),
    ("POST", "api/cull/activity", "write"),
    ("POST", "api/cull/keepalive", "write"),
]


@pytest.mark.cull_config({"ServerApp": {"authorizer_class": DenyCull}})
async def test_denied_authorizer_refuses_every_endpoint(
    jp_fetch: Any, jp_serverapp: Any
) -> None:
    authorizer = jp_serverapp.authorizer
    assert isinstance(authorizer, DenyCull)
    for method, path, body in ENDPOINTS:
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch(*path.split("/"), method=method, body=body)
        assert e.value.code == 403, (method, path)
    assert authorizer.calls == EXPECTED_CALLS
    # The refused POSTs had no effect (read past the authorizer: it denies the status too).
    tracker = jp_serverapp.web_app.settings["jupyter_cull_ext"].tracker
    assert tracker.keepalive_until is None
    assert "presence" not in tracker.times()
    # Other resources are still allowed: the denial is about "cull" only.
    r = await jp_fetch("api", "status")
    assert r.code == 200


@pytest.mark.cull_config({"ServerApp": {"authorizer_class": ReadOnlyCull}})
async def test_read_only_authorizer_allows_status_only(
    jp_fetch: Any, jp_serverapp: Any, status: Any
) -> None:
    authorizer = jp_serverapp.authorizer
    r = await jp_fetch("api", "cull", "status")
    assert r.code == 200
    assert json.loads(r.body)["server"]["keepalive_max"] == 86400
    for method, path, body in POSTS:
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch(*path.split("/"), method=method, body=body)
        assert e.value.code == 403, (method, path)
    assert authorizer.calls == EXPECTED_CALLS
    after = (await status())["server"]
    assert after["keepalive_until"] is None
    assert after["last_activity_source"] != "presence"


# --- keep-alive ---------------------------------------------------------------------------


async def test_keepalive_sets_reports_and_cancels(keepalive: Any, status: Any) -> None:
    before = now()
    doc = await keepalive(600)
    after = now()
    server = doc["server"]
    until = parse_time(server["keepalive_until"])
    assert before + timedelta(seconds=595) <= until <= after + timedelta(seconds=605)
    assert abs(seconds_between(now(), until) - 600) < 5
    assert server["keepalive_max"] == 86400

    again = (await status())["server"]
    assert again["keepalive_until"] == server["keepalive_until"]
    assert again["keepalive_max"] == 86400

    cancelled = (await keepalive(0))["server"]
    assert cancelled["keepalive_until"] is None
    assert (await status())["server"]["keepalive_until"] is None


async def test_keepalive_above_cap_is_refused(post_error: Any, status: Any) -> None:
    code, message = await post_error("keepalive", {"seconds": 86401})
    assert code == 400
    assert "86400" in message
    assert (await status())["server"]["keepalive_until"] is None


async def test_keepalive_at_cap_is_accepted(keepalive: Any) -> None:
    server = (await keepalive(86400))["server"]
    assert abs(seconds_between(now(), parse_time(server["keepalive_until"])) - 86400) < 5


@pytest.mark.cull_config({"CullExt": {"keepalive_max": 0}})
async def test_keepalive_disabled(keepalive: Any, post_error: Any, status: Any) -> None:
    for secs in (1, 0.5, 600):
        code, message = await post_error("keepalive", {"seconds": secs})
        assert code == 400
        assert "disabled" in message
    server = (await status())["server"]
    assert server["keepalive_until"] is None
    assert server["keepalive_max"] == 0
    assert (await keepalive(0))["server"]["keepalive_until"] is None


@pytest.mark.cull_config({"CullExt": {"keepalive_max": 60}})
async def test_keepalive_custom_cap(keepalive: Any, post_error: Any) -> None:
    code, message = await post_error("keepalive", {"seconds": 61})
    assert code == 400
    assert "60" in message
    server = (await keepalive(60))["server"]
    assert server["keepalive_max"] == 60
    assert abs(seconds_between(now(), parse_time(server["keepalive_until"])) - 60) < 5


@pytest.mark.parametrize(
    "body",
    [
        "nope",
        "[1]",
        '"x"',
        "{}",
        '{"seconds": "10"}',
        '{"seconds": true}',
        '{"seconds": false}',
        '{"seconds": -1}',
        '{"seconds": -0.5}',
        '{"seconds": null}',
        '{"seconds": NaN}',
        '{"seconds": Infinity}',
        '{"seconds": -Infinity}',
        '{"seconds": [10]}',
        '{"secs": 10}',
    ],
)
async def test_keepalive_bad_input(post_error: Any, status: Any, body: str) -> None:
    code, message = await post_error("keepalive", body)
    assert code == 400
    assert isinstance(message, str) and message
    assert (await status())["server"]["keepalive_until"] is None


# --- keep-alive protects kernels, never moves max age ------------------------------------


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 2}})
async def test_keepalive_protects_kernel_until_it_ends(
    jp_fetch: Any, start_kernel: Any, keepalive: Any, status: Any
) -> None:
    kid = await start_kernel()
    started = time.monotonic()
    server = (await keepalive(6))["server"]
    until = parse_time(server["keepalive_until"])
    until_mono = time.monotonic() + seconds_between(now(), until)

    async def kernel_ids() -> list[str]:
        r = await jp_fetch("api", "kernels")
        return [k["id"] for k in json.loads(r.body)]

    (k,) = [k for k in (await status())["kernels"] if k["id"] == kid]
    assert k["protected_by"] == "keepalive"
    assert k["reason"] == "idle"
    assert abs(seconds_between(parse_time(k["deadline"]), until)) <= 0.05

    # Past its own 2 s idle timeout, still running.
    await asyncio.sleep(max(0, started + 3 - time.monotonic()))
    assert kid in await kernel_ids()
    # Still running shortly before the keep-alive ends.
    await asyncio.sleep(max(0, until_mono - 0.7 - time.monotonic()))
    assert kid in await kernel_ids()

    # Culled shortly after the keep-alive ends.
    async def gone() -> bool:
        return kid not in await kernel_ids()

    await wait_for(gone, timeout=max(0.5, until_mono + 3 - time.monotonic()))
    assert time.monotonic() >= until_mono - 0.1


STARTED_10_MIN_AGO = iso_z(now() - timedelta(minutes=10))


@pytest.mark.cull_config(
    {"CullExt": {"max_age": 3600, "server_started": STARTED_10_MIN_AGO}}
)
async def test_keepalive_never_moves_max_age(keepalive: Any, status: Any) -> None:
    before = (await status())["server"]
    assert before["reason"] == "max_age"
    assert before["deadline"] == before["max_age_deadline"]
    max_age_deadline = parse_time(before["max_age_deadline"])
    assert abs(seconds_between(parse_time(STARTED_10_MIN_AGO), max_age_deadline) - 3600) < 1

    server = (await keepalive(7200))["server"]
    assert parse_time(server["keepalive_until"]) > max_age_deadline
    assert server["deadline"] == server["max_age_deadline"] == before["max_age_deadline"]
    assert server["reason"] == "max_age"

    again = (await status())["server"]
    assert again["deadline"] == before["max_age_deadline"]
    assert again["reason"] == "max_age"


# --- presence -----------------------------------------------------------------------------


@pytest.mark.parametrize("body", ["", "{}", '{"visible": true}'])
async def test_presence_records_presence(post: Any, status: Any, body: str) -> None:
    before = (await status())["server"]
    assert before["last_activity_source"] != "presence"
    reply = (await post("activity", body))["server"]
    assert reply["last_activity_source"] == "presence"
    server = (await status())["server"]
    assert server["last_activity_source"] == "presence"
    assert abs(seconds_between(parse_time(server["last_activity"]), now())) < 2


@pytest.mark.cull_config({"CullExt": {"server_idle_timeout": 3600}})
async def test_presence_moves_the_idle_deadline(post: Any, status: Any) -> None:
    before = (await status())["server"]
    assert before["reason"] == "idle"
    await asyncio.sleep(1.1)
    server = (await post("activity"))["server"]
    assert seconds_between(parse_time(before["deadline"]), parse_time(server["deadline"])) >= 1
    assert server["deadline"] == server["idle_deadline"]
    last = parse_time(server["last_activity"])
    assert parse_time(server["deadline"]) == last + timedelta(seconds=3600)


@pytest.mark.parametrize("body", ["[1]", '"x"', "nope", "null"])
async def test_presence_bad_body(post_error: Any, status: Any, body: str) -> None:
    code, message = await post_error("activity", body)
    assert code == 400
    assert message
    assert (await status())["server"]["last_activity_source"] != "presence"


# --- the endpoints (and background GETs) are not activity ---------------------------------


@pytest.mark.cull_config({"CullExt": {"server_idle_timeout": 3600}})
async def test_polling_is_not_activity(jp_fetch: Any, status: Any) -> None:
    first = (await status())["server"]
    for _ in range(5):
        await status()
    # jupyter_server's own status, and background GETs that move its api_last_activity.
    await jp_fetch("api", "status")
    await jp_fetch("api", "kernels")
    await jp_fetch("api", "contents")
    await jp_fetch("api", "sessions")
    await asyncio.sleep(0.3)
    server = (await status())["server"]
    assert server["last_activity"] == first["last_activity"]
    assert server["last_activity_source"] == first["last_activity_source"]
    assert server["deadline"] == first["deadline"]

    # web_app.last_activity() is the refined value: /api/status agrees with ours.
    r = await jp_fetch("api", "status")
    theirs = parse_time(json.loads(r.body)["last_activity"])
    ours = parse_time(server["last_activity"])
    assert abs(seconds_between(ours, theirs)) < 0.001


# --- the status document's schema ---------------------------------------------------------


async def every_answer(status: Any, post: Any) -> list[dict]:
    """The document from each endpoint (each checked against the schema on the way)."""
    return [await status(), await post("activity"), await post("keepalive", {"seconds": 60}),
            await post("keepalive", {"seconds": 0})]


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 600, "terminal_idle_timeout": 600,
                                      "server_idle_timeout": 3600}})
async def test_documents_with_idle_and_busy_kernels_and_a_terminal_match_the_schema(
    status: Any, post: Any, jp_fetch: Any, start_kernel: Any, execute: Any
) -> None:
    idle, busy = await start_kernel(), await start_kernel()
    await execute(busy, "import time; time.sleep(5)", wait=False)
    await jp_fetch("api", "terminals", method="POST", body="{}")

    async def busy_seen() -> dict | None:
        doc = await status()
        return doc if any(k["execution_state"] == "busy" for k in doc["kernels"]) else None

    doc = await wait_for(busy_seen, timeout=10)
    kernels = {k["id"]: k for k in doc["kernels"]}
    assert kernels[busy]["protected_by"] == "busy" and kernels[busy]["heads_up_at"] is None
    assert kernels[idle]["deadline"] is not None and len(doc["terminals"]) == 1
    assert doc["server"]["protected_by"] == "busy_kernel"
    assert doc["server"]["last_activity_label"] == "a kernel running code right now"
    answers = await every_answer(status, post)
    assert answers[2]["server"]["keepalive_until"] is not None  # keep-alive on, in the schema


@pytest.mark.cull_config({"CullExt": {"kernel_idle_timeout": 600, "server_idle_timeout": 3600,
                                      "warn_before": 60}})
async def test_idle_kernel_moments_come_from_the_server(status: Any, start_kernel: Any) -> None:
    kid = await start_kernel()
    doc = await status()
    s, k = doc["server"], {k["id"]: k for k in doc["kernels"]}[kid]
    deadline = parse_time(s["deadline"])
    assert parse_time(s["autosave_at"]) == deadline - timedelta(seconds=15)
    assert s["presence_interval"] == 60
    assert k["goes_with_server"] is False
    assert parse_time(k["heads_up_at"]) == parse_time(k["deadline"]) - timedelta(seconds=60)
    assert k["keepalive_offer"] == 1800


@pytest.mark.cull_config({"CullExt": {"max_age": 3600, "server_started": STARTED_10_MIN_AGO}})
async def test_documents_with_max_age_match_the_schema(status: Any, post: Any) -> None:
    answers = await every_answer(status, post)
    assert all(a["server"]["reason"] == "max_age" for a in answers)
    assert answers[0]["hub"] == status_doc.HUB_OFF  # no hub: every key, empty


@pytest.fixture
def stub_hub(monkeypatch: pytest.MonkeyPatch):
    """A real HTTP endpoint taking activity reports, named in the environment the way
    JupyterHub names its own (request this before the server starts)."""
    posts: list[dict] = []

    class Activity(web.RequestHandler):
        def post(self) -> None:
            posts.append(json.loads(self.request.body))

    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(web.Application([(r"/activity", Activity)]))
    server.add_sockets(sockets)
    monkeypatch.setenv("JUPYTERHUB_ACTIVITY_URL",
                       f"http://127.0.0.1:{sockets[0].getsockname()[1]}/activity")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "stub-hub-token")
    yield posts
    server.stop()


async def test_documents_while_reporting_to_a_hub_match_the_schema(
    stub_hub: list, status: Any, post: Any
) -> None:
    answers = await every_answer(status, post)
    assert answers[-1]["hub"]["reporting"] is True

    async def reported() -> dict | None:
        hub = (await status())["hub"]
        return hub if hub["last_report_ok"] else None

    hub = await wait_for(reported, timeout=10)  # presence and keep-alive are reported
    assert hub["reports"] >= 1 and stub_hub
    assert set(hub) == set(status_doc.HUB_OFF)


@pytest.mark.parametrize("where", [(), ("server",), ("hub",), ("settings",)])
async def test_schema_refuses_a_key_added_on_one_side_only(status: Any, where: tuple) -> None:
    doc = await status()
    part = doc
    for key in where:
        part = part[key]
    part["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError, match="surprise"):
        valid(doc)


async def test_schema_refuses_a_missing_key(status: Any) -> None:
    doc = await status()
    del doc["server"]["autosave_at"]
    with pytest.raises(jsonschema.ValidationError, match="autosave_at"):
        valid(doc)


@pytest.mark.cull_config({"CullExt": {"keepalive_owner_only": True}})
async def test_keepalive_owner_only_refuses_guests(
    jp_fetch: Any, keepalive: Any, post_error: Any, status: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under JupyterHub sharing a guest may reach the server; with keepalive_owner_only only
    the owner ($JUPYTERHUB_USER) may keep it up."""
    monkeypatch.setenv("JUPYTERHUB_USER", "the-owner")
    code, message = await post_error("keepalive", {"seconds": 600})
    assert code == 403 and "owner" in message, message
    assert (await status())["server"]["keepalive_until"] is None
    monkeypatch.delenv("JUPYTERHUB_USER")  # outside JupyterHub every user is the owner
    assert (await keepalive(600))["server"]["keepalive_until"] is not None
