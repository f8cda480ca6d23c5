"""Every endpoint our extension registers, and every HTTP method it implements, refuses an
anonymous request and a user whose Authorizer denies the ``cull`` resource.

The routes come from the live server's tornado rules (``routes.live_routes``), so a handler
added later is audited without anyone editing this file; the last test proves that the audit
catches a handler that forgets ``@web.authenticated``, ``@authorized`` or ``auth_resource``.

The server runs with jupyter_server's default ``allow_unauthenticated_access = True`` as well
as ``False``: with ``True`` (what JupyterHub's single-user servers run with) nothing but our
own decorators protects the endpoints.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from jupyter_server.auth.decorator import authorized
from jupyter_server.auth.utils import HTTP_METHOD_TO_AUTH_ACTION
from test_endpoints import DenyCull
from tornado import web

from jupyter_cull_ext import app as app_module
from jupyter_cull_ext.handlers import AUTH_RESOURCE, CullHandler

from .routes import Route, implemented_methods, live_routes


def body_for(method: str) -> str | None:
    return "{}" if method in ("POST", "PUT", "PATCH") else None


def extension(serverapp: Any) -> Any:
    return serverapp.web_app.settings["jupyter_cull_ext"]


def routes_of(serverapp: Any) -> list[Route]:
    return live_routes(serverapp.web_app, extension(serverapp))


async def fetch(http_server_client: Any, method: str, path: str, headers: dict | None = None):
    return await http_server_client.fetch(
        path, method=method, body=body_for(method), headers=headers or {}, raise_error=False,
        follow_redirects=False, request_timeout=20, allow_nonstandard_methods=True,
    )


def refused_anonymously(response: Any) -> bool:
    if response.code in (401, 403):
        return True
    location = response.headers.get("Location", "")
    return response.code in (302, 303, 307) and "login" in location


async def audit(serverapp: Any, http_server_client: Any) -> list[str]:
    """Problems with the auth of our live routes: anonymous requests that are not refused,
    denied users that are not refused, handlers without our ``auth_resource``."""
    problems = []
    token = serverapp.identity_provider.token
    authorizer = serverapp.authorizer
    assert isinstance(authorizer, DenyCull), "the audit needs an authorizer that denies cull"
    for route in routes_of(serverapp):
        resource = getattr(route.handler, "auth_resource", None)
        if resource != AUTH_RESOURCE:
            problems.append(f"{route.handler.__name__}.auth_resource is {resource!r}, "
                            f"not {AUTH_RESOURCE!r}")
        for method in route.methods:
            where = f"{method} {route.path} ({route.handler.__name__})"
            anonymous = await fetch(http_server_client, method, route.path)
            if not refused_anonymously(anonymous):
                problems.append(f"anonymous {where} answered {anonymous.code}")
            authorizer.calls.clear()
            denied = await fetch(http_server_client, method, route.path,
                                 {"Authorization": f"token {token}"})
            if denied.code != 403:
                problems.append(f"{where} for a user denied {AUTH_RESOURCE!r} answered "
                                f"{denied.code}")
            elif not any(call[2] == HTTP_METHOD_TO_AUTH_ACTION[method]
                         for call in authorizer.calls):
                problems.append(f"{where} was refused without asking the authorizer for "
                                f"{HTTP_METHOD_TO_AUTH_ACTION[method]!r} on {AUTH_RESOURCE!r}")
    return problems


def deny_cull(allow_unauthenticated: bool) -> dict:
    return {"ServerApp": {"authorizer_class": DenyCull,
                          "allow_unauthenticated_access": allow_unauthenticated}}


@pytest.mark.parametrize("allow_unauthenticated", [
    pytest.param(True, marks=pytest.mark.cull_config(deny_cull(True)), id="default-access"),
    pytest.param(False, marks=pytest.mark.cull_config(deny_cull(False)), id="strict-access"),
])
async def test_every_route_and_method_refuses_anonymous_and_denied_users(
    jp_serverapp: Any, http_server_client: Any, allow_unauthenticated: bool
) -> None:
    assert jp_serverapp.allow_unauthenticated_access is allow_unauthenticated
    routes = routes_of(jp_serverapp)
    # The live routes are exactly the extension's handlers list, each with a method.
    listed = {spec[1] for spec in extension(jp_serverapp).handlers}
    assert {r.handler for r in routes} == listed and len(routes) == len(listed), routes
    assert all(r.methods for r in routes), routes
    assert sum(len(r.methods) for r in routes) >= 3, routes  # today: GET + 2 POST

    assert await audit(jp_serverapp, http_server_client) == []

    # The refused requests changed nothing (read past the authorizer, which denies reads).
    tracker = extension(jp_serverapp).tracker
    assert tracker.keepalive_until is None
    assert set(tracker.times()) == {"server_start"}


def test_every_handler_class_has_our_auth_resource() -> None:
    """Statically too: every tornado handler class defined anywhere in jupyter_cull_ext
    (registered or not yet) names our resource and implements a method."""
    import importlib
    import pkgutil

    import jupyter_cull_ext

    classes = set()
    for module in pkgutil.walk_packages(jupyter_cull_ext.__path__, "jupyter_cull_ext."):
        if module.name.endswith("__main__"):
            continue
        for obj in vars(importlib.import_module(module.name)).values():
            if (isinstance(obj, type) and issubclass(obj, web.RequestHandler)
                    and obj.__module__ == module.name):
                classes.add(obj)
    assert {spec[1] for spec in app_module.default_handlers} <= classes, classes
    for cls in classes:
        assert getattr(cls, "auth_resource", None) == AUTH_RESOURCE, cls
        assert implemented_methods(cls) or cls is CullHandler, cls


# --- the audit can fail ------------------------------------------------------------------


class ForgetsEverything(CullHandler):
    """A new handler that forgot both decorators (auth_resource inherited)."""

    async def get(self) -> None:
        self.finish(json.dumps({"leak": True}))


class ForgetsAuthorized(CullHandler):
    """Authenticated but never asks the authorizer."""

    @web.authenticated
    async def post(self) -> None:
        self.finish("{}")


class ForeignResource(CullHandler):
    """Decorated, but authorizes against another resource."""

    auth_resource = "kernels"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.finish("{}")


CANARIES = [
    (r"/api/cull/canary/everything", ForgetsEverything),
    (r"/api/cull/canary/authorized", ForgetsAuthorized),
    (r"/api/cull/canary/resource", ForeignResource),
]


@pytest.fixture
def with_canaries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register three faulty handlers the way a future one would be: in the extension's
    handlers list."""
    monkeypatch.setattr(app_module, "default_handlers", app_module.default_handlers + CANARIES)


@pytest.mark.cull_config(deny_cull(True))
async def test_the_audit_catches_a_handler_that_forgets_auth(
    with_canaries: None, jp_serverapp: Any, http_server_client: Any
) -> None:
    problems = await audit(jp_serverapp, http_server_client)
    base = jp_serverapp.base_url
    assert sorted(problems) == sorted([
        f"anonymous GET {base}api/cull/canary/everything (ForgetsEverything) answered 200",
        f"GET {base}api/cull/canary/everything (ForgetsEverything) for a user denied 'cull' "
        "answered 200",
        f"POST {base}api/cull/canary/authorized (ForgetsAuthorized) for a user denied 'cull' "
        "answered 200",
        "ForeignResource.auth_resource is 'kernels', not 'cull'",
        f"GET {base}api/cull/canary/resource (ForeignResource) for a user denied 'cull' "
        "answered 200",
    ]), problems
