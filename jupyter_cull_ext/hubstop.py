"""Ask JupyterHub to stop this server when it stops itself, so the hub knows at once.

A server that just exits (idle, max age) is seen stopped by the hub only at the spawner's
next poll (``Spawner.poll_interval``, 30 s by default): until then the admin panel shows it
running, ``/hub/home`` offers a server that answers with an error, and on Kubernetes the
finished pod lingers. A stop through the hub's REST API is seen at once: the hub stops the
spawner, which ends this process the way any stop from the hub does (the server's own
shutdown then stops kernels and terminals as usual).

The server's token may do that only with the scope ``delete:servers!server``, which
``hub.configure`` adds to ``Spawner.server_token_scopes``. Without it (no companion, scopes
of the operator's own, an older hub) the hub answers 403: the server says why, once, as it
stops, and exits by itself as before. It waits at most ``WAIT`` seconds for the hub, so a
slow or dead hub delays the stop by no more than that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .hubreport import hub_token, ssl_options_from_env

#: Seconds the server waits for the hub's answer before it exits by itself.
WAIT = 2.0
#: The scope the server's token needs (``hub.configure`` grants it).
SCOPE = "delete:servers!server"


def stop_url(env: Mapping[str, str]) -> str | None:
    """The hub's REST URL that stops this server (its user's default or named server), or
    None outside a hub."""
    api, user = env.get("JUPYTERHUB_API_URL", ""), env.get("JUPYTERHUB_USER", "")
    if not (api and user and hub_token(env)):
        return None
    name = env.get("JUPYTERHUB_SERVER_NAME", "")
    path = f"users/{quote(user, safe='')}/server"
    if name:
        path = f"{path}s/{quote(name, safe='')}"
    return f"{api.rstrip('/')}/{path}"


class HubStop:
    """The request that hands this server's stop to the hub."""

    def __init__(self, url: str, token: str, log: Any,
                 request_options: dict[str, Any] | None = None):
        self.url = url
        self.token = token
        self.log = log
        self.request_options = request_options or {}

    async def __call__(self) -> bool:
        """Ask the hub to stop this server. True if it took the request (it is stopping us:
        usually this process ends before the answer comes); False, with the reason logged,
        when the server must exit by itself. Never raises."""
        request = HTTPRequest(self.url, method="DELETE",
                              headers={"Authorization": f"token {self.token}"},
                              request_timeout=WAIT, **self.request_options)
        self.log.info("Asking the hub to stop this server, so that it shows it stopped at once.")
        try:
            await AsyncHTTPClient().fetch(request)
        except HTTPClientError as e:
            if e.code == 403:
                why = (f"its token lacks the scope {SCOPE}, which the hub companion's "
                       "configure() grants; see docs/hub.md")
            elif e.code == 599:
                why = f"no answer within {WAIT:g} s"
            else:
                why = f"HTTP {e.code} {e.message}"
            self._exits_by_itself(why)
            return False
        except Exception as e:
            self._exits_by_itself(f"{type(e).__name__}: {e}")
            return False
        return True

    def _exits_by_itself(self, why: str) -> None:
        self.log.warning("The hub could not stop this server (%s): it exits by itself, and the "
                         "hub notices at its next poll of the server.", why)


def hub_stop_from_env(env: Mapping[str, str], log: Any) -> HubStop | None:
    """The hub stop for this server, or None outside a hub."""
    url = stop_url(env)
    if url is None:
        return None
    return HubStop(url, hub_token(env), log, ssl_options_from_env(dict(env)))
