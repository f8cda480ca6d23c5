"""The HTTP routes our extension registers, read from a live server (never a hand-written
list), and the HTTP methods each handler implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jupyter_server.base.handlers import APIHandler
from tornado import web

#: jupyter_server's CORS preflight: defined on APIHandler, marked @allow_unauthenticated on
#: purpose (a browser sends it without credentials) and answers headers only. A handler of
#: ours that *overrides* OPTIONS is audited like any other method.
INHERITED_PREFLIGHT = APIHandler.options


@dataclass(frozen=True)
class Route:
    pattern: str  # the live regex, base_url included
    path: str  # a concrete path that the regex matches
    handler: type
    methods: tuple[str, ...]  # implemented by the handler (not tornado's 405 default)


def implemented_methods(cls: type) -> tuple[str, ...]:
    out = []
    for method in cls.SUPPORTED_METHODS:
        impl = getattr(cls, method.lower(), None)
        if impl is None or impl is getattr(web.RequestHandler, method.lower(), None):
            continue
        if method == "OPTIONS" and impl is INHERITED_PREFLIGHT:
            continue
        out.append(method)
    return tuple(out)


def _rules(router: Any):
    for rule in getattr(router, "rules", ()):
        if isinstance(rule.target, type):
            yield rule
        else:  # a nested router (one per host pattern)
            yield from _rules(rule.target)


def ours(handler: type, extension: Any) -> bool:
    """A handler of our extension: from its handlers list, or defined in our package."""
    listed = {spec[1] for spec in extension.handlers}
    return handler in listed or handler.__module__.split(".")[0] == "jupyter_cull_ext"


def live_routes(web_app: Any, extension: Any) -> list[Route]:
    """Every route of the live tornado application whose handler is ours."""
    routes = []
    for router in (web_app.wildcard_router, web_app.default_router):
        for rule in _rules(router):
            if not ours(rule.target, extension):
                continue
            matcher = rule.matcher
            path = matcher.reverse(*["probe"] * (matcher._group_count or 0))
            assert path is not None, f"cannot build a URL for {matcher.regex.pattern}"
            routes.append(Route(matcher.regex.pattern, path, rule.target,
                                implemented_methods(rule.target)))
    return routes
