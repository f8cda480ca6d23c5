"""The status, presence and keep-alive endpoints.

None of them counts as activity by being requested (``_track_activity = False``): the
widget polls the status, and presence and keep-alive record their own, named source.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from . import policy
from .enforce import Enforcer, KeepaliveError
from .knobs import MAX_SECONDS
from .status import document

AUTH_RESOURCE = "cull"


class CullHandler(APIHandler):
    auth_resource = AUTH_RESOURCE
    _track_activity = False

    @property
    def enforcer(self) -> Enforcer:
        return self.settings["jupyter_cull_ext"].enforcer

    def write_status(self, status: int = 200) -> None:
        self.set_status(status)
        app = self.settings["jupyter_cull_ext"]
        decision = self.enforcer.decide()
        self.finish(json.dumps(document(decision, hub=app.hub_status(),
                                        gateway=app.gateway_status(decision.now))))

    def json_body(self) -> dict[str, Any]:
        """The request body as a JSON object; an empty body is ``{}``."""
        if not self.request.body.strip():
            return {}
        try:
            body = json.loads(self.request.body)
        except ValueError as e:
            raise web.HTTPError(400, f"request body is not valid JSON: {e}") from e
        except RecursionError as e:  # e.g. 100000 nested "[": a client error, not a 500
            raise web.HTTPError(400, "request body is nested too deeply") from e
        if not isinstance(body, dict):
            raise web.HTTPError(400, "request body must be a JSON object")
        return body


class StatusHandler(CullHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Deadlines and reasons for the server, its kernels and terminals."""
        self.write_status()


class PresenceHandler(CullHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        """A person is here (keyboard, mouse, scroll or focus in a visible tab)."""
        self.json_body()
        self.enforcer.tracker.record(policy.PRESENCE)
        self.write_status()


class KeepaliveHandler(CullHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Keep the server and its kernels up for ``{"seconds": N}`` (0 cancels)."""
        body = self.json_body()
        secs = body.get("seconds")
        if isinstance(secs, bool) or not isinstance(secs, (int, float)) or secs != secs:
            raise web.HTTPError(400, 'body must be {"seconds": N} with N a number of seconds')
        if isinstance(secs, int) and abs(secs) > MAX_SECONDS:
            # Longer than any cap can be, and maybe too big for a float (formatting it with
            # :g in the messages would raise, a 500): the same as the JSON number 1e400.
            secs = math.inf if secs > 0 else -math.inf
        if secs < 0:
            raise web.HTTPError(400, f"seconds must be >= 0 (0 cancels), got {secs:g}")
        who = self.current_user.username
        owner = os.environ.get("JUPYTERHUB_USER")
        if self.settings["jupyter_cull_ext"].keepalive_owner_only and owner and who != owner:
            raise web.HTTPError(403, "only the server's owner may keep it alive here "
                                     "(CullExt.keepalive_owner_only)")
        try:
            self.enforcer.keepalive(secs, who=who)
        except KeepaliveError as e:
            raise web.HTTPError(400, str(e)) from e
        self.write_status()


default_handlers = [
    (r"/api/cull/status", StatusHandler),
    (r"/api/cull/activity", PresenceHandler),
    (r"/api/cull/keepalive", KeepaliveHandler),
]
