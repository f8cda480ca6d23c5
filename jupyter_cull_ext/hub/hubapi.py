"""The few JupyterHub REST calls the companion makes, with a cap on concurrent requests.

No dependency on ``jupyterhub``: tornado's HTTP client only. Every request is counted
(``requests``) so a pass can report its cost. Answers the companion expects (200, 202, 204,
404 where it means "already gone") are returned; anything else, and connection failures,
raise ``HubError`` with a one-line message that never contains the token.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from tornado.httputil import url_concat

PAGINATION = "application/jupyterhub-pagination+json"
#: Users per page: JupyterHub's largest (``api_page_max_limit``; it clamps larger requests).
#: Every page re-counts the whole filtered query, so fewer, larger pages cost the hub less.
PAGE_SIZE = 200


class HubError(Exception):
    """A hub request that failed; ``code`` is the HTTP status (None: no answer at all)."""

    def __init__(self, message: str, code: int | None = None):
        super().__init__(message)
        self.code = code


def internal_ssl_context(location: str) -> ssl.SSLContext:
    """Client TLS for a hub with ``internal_ssl`` (certificates as JupyterHub generates them,
    the same layout jupyterhub-idle-culler's ``--internal-certs-location`` expects)."""
    context = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cafile=f"{location}/hub-ca/hub-ca.crt")
    context.load_cert_chain(f"{location}/hub-internal/hub-internal.crt",
                            f"{location}/hub-internal/hub-internal.key")
    return context


class HubAPI:
    """``url`` is the hub's API URL (``$JUPYTERHUB_API_URL``, e.g.
    ``http://127.0.0.1:8081/hub/api``)."""

    def __init__(self, url: str, api_token: str, *, concurrency: int = 10,
                 page_size: int = PAGE_SIZE, ssl_context: ssl.SSLContext | None = None,
                 request_timeout: float | None = None):
        self.url = url.rstrip("/")
        self.page_size = page_size
        self.requests = 0
        self._token = api_token
        self._semaphore = asyncio.Semaphore(max(concurrency, 1))
        if request_timeout is None:
            request_timeout = float(os.environ.get("JUPYTERHUB_REQUEST_TIMEOUT") or 60)
        defaults: dict[str, Any] = {"request_timeout": request_timeout}
        if ssl_context is not None:
            defaults["ssl_options"] = ssl_context
        self._client = AsyncHTTPClient(force_instance=True, max_clients=max(concurrency, 1),
                                       defaults=defaults)

    def close(self) -> None:
        self._client.close()

    async def request(self, method: str, path: str, *, params: dict | None = None,
                      body: Any = None, accept: str = "application/json",
                      ok: tuple[int, ...] = (200,)) -> tuple[int, Any]:
        """One request; (status, decoded JSON body or None) if the status is in ``ok``."""
        url = url_concat(f"{self.url}/{path}", params) if params else f"{self.url}/{path}"
        request = HTTPRequest(
            url, method=method, body=None if body is None else json.dumps(body),
            headers={"Authorization": f"token {self._token}", "Accept": accept},
            allow_nonstandard_methods=True)
        async with self._semaphore:
            self.requests += 1
            try:
                response = await self._client.fetch(request, raise_error=False)
            except (HTTPClientError, OSError, asyncio.TimeoutError) as e:
                raise HubError(f"{method} {path}: {e}") from None
        if response.code not in ok:
            raise HubError(f"{method} {path}: {response.code} {_message(response.body)}",
                           response.code)
        raw = response.body or b""
        try:
            return response.code, json.loads(raw) if raw.strip() else None
        except ValueError:
            raise HubError(f"{method} {path}: {response.code} but not JSON: "
                           f"{_message(raw)}", response.code) from None

    async def users_ready(self) -> AsyncIterator[dict]:
        """Users with at least one ready server, page by page (``_pagination.next``); the
        next page is requested while the caller works through the current one."""
        params: dict[str, Any] = {"state": "ready"}
        if self.page_size:
            params["limit"] = self.page_size
        fetch = asyncio.ensure_future(self._page(params))
        try:
            while fetch is not None:
                model = await fetch
                fetch = None
                if isinstance(model, list):  # a hub that does not paginate
                    items = model
                else:
                    items = model["items"]
                    following = model["_pagination"]["next"]
                    if following:
                        params = {**params, "offset": following["offset"],
                                  "limit": following["limit"]}
                        fetch = asyncio.ensure_future(self._page(params))
                for user in items:
                    yield user
        finally:
            if fetch is not None:
                fetch.cancel()

    async def _page(self, params: dict) -> Any:
        return (await self.request("GET", "users", params=params, accept=PAGINATION))[1]

    async def user(self, name: str) -> dict | None:
        """One user's model, or None if the user no longer exists."""
        code, model = await self.request("GET", f"users/{quote(name, safe='')}", ok=(200, 404))
        return model if code == 200 else None

    async def stop_server(self, user: str, server_name: str, remove: bool = False) -> int:
        """Stop a server: 204 stopped, 202 stopping (slowly), 404 already gone."""
        path = f"users/{quote(user, safe='')}/server"
        if server_name:
            path = f"users/{quote(user, safe='')}/servers/{quote(server_name, safe='')}"
        body = {"remove": True} if server_name and remove else None
        code, _ = await self.request("DELETE", path, body=body, ok=(202, 204, 404))
        return code


def _message(body: bytes | None) -> str:
    """The hub's error message, short."""
    text = (body or b"").decode("utf-8", "replace").strip()
    try:
        text = json.loads(text).get("message") or text
    except (ValueError, AttributeError):
        pass
    return text[:200]
