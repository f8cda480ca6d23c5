"""Every place we replace or read behaviour of jupyter_server, its terminals or jupyterhub.

The one list to re-check on an upgrade of any of them:

At link (``install_at_link``), before any extension loads:

1. jupyterhub-singleuser's activity reporter gets ``hub_activity_interval = 0``: it reads
   the interval when it loads and then sends nothing, so there is one reporter per server
   (ours, started at start). This is safe only because a failure at any later stage of our
   startup ends the process (``app.fatal``): a server never runs with the stock reporter
   silenced and ours not running, which would leave the hub with no activity at all.

At load (``install_at_load``):

2. ``ServerApp.kernel_websocket_connection_class`` (jupyter_server's extension point for the
   kernel websocket, copied into the web app's settings) becomes
   ``inputwatch.InputWatchingConnection``, which notes ``input()`` prompts and their
   answers. Not when the operator or another extension set that class, nor with a gateway
   (its own class): then an unanswered prompt counts as a busy kernel, as in the stock
   server, and the log says so once.
2b. ``web_app.last_activity`` (jupyter_server) is replaced by ``LiveServer.last_activity``, so
   ``/api/status``, jupyter_server's own idle shutdown and jupyterhub-singleuser all see the
   refined activity, not "any REST call".
2c. Where jupyter_server does not call extensions' start hook (before 2.16), ours is run
   when the event loop starts (``compat.start_if_server_will_not``).

At start (``install_at_start``), once every extension has loaded:

3. ``web_app.settings["log_function"]`` (tornado) is wrapped to classify every finished
   request; wrapped at start because jupyterhub-singleuser replaces it when it loads.
4. ``MappingKernelManager.cull_kernel_if_idle`` (jupyter_server, per kernel in the stock
   sweep) is routed to ``Enforcer.stock_kernel_check``: one rule, keep-alive included.
5. ``TerminalManager._cull_inactive_terminal`` (jupyter_server_terminals, private) likewise,
   to ``Enforcer.stock_terminal_check``.
6. With a gateway, ``GatewayMappingKernelManager.cull_kernels`` (the stock sweep, which first
   lists the gateway's kernels) becomes the plain ``MappingKernelManager`` sweep over known
   kernels: ``gateway.GatewayWatcher`` already lists them, and the stock listing logged a
   traceback at every sweep while the gateway was down.

Private state we read but do not change: ``MappingKernelManager._kernels`` (a kernel's
``execution_state``, ``last_activity``, ``kernel_spec``; ``live.py``) and a terminal's
``ptyproc`` (``enforce.py``: whether a kill took; ``live.py``: what runs in its foreground).
With a gateway (``gateway.py``): we call
``GatewayMappingKernelManager.list_kernels`` on our own schedule (it refreshes each remote
kernel's ``execution_state`` and ``last_activity`` and forgets kernels the gateway culled) and
read ``_kernel_connections``, where it stores each one's connections.
"""

from __future__ import annotations

import functools
from typing import Any

from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager

from . import policy
from .compat import start_if_server_will_not


def install_at_link(ext: Any) -> None:
    """Hook 1 (see the module docstring)."""
    serverapp = ext.serverapp
    for apps in serverapp.extension_manager.extension_apps.values():
        for app in apps:
            if app is not ext and "hub_activity_interval" in app.trait_names():
                app.hub_activity_interval = 0
                serverapp.log.info("jupyter_cull_ext: reporting activity to JupyterHub "
                                   "instead of %s.", app.name)


def install_at_load(ext: Any) -> None:
    """Hooks 2 and 2b (see the module docstring)."""
    _watch_input_prompts(ext)
    ext.serverapp.web_app.last_activity = ext.live.last_activity
    start_if_server_will_not(ext, ext.serverapp)


def install_at_start(ext: Any) -> None:
    """Hooks 3 to 6 (see the module docstring)."""
    serverapp = ext.serverapp
    _wrap_log_function(serverapp.web_app.settings, ext.classifier, ext.tracker)
    serverapp.kernel_manager.cull_kernel_if_idle = ext.enforcer.stock_kernel_check
    tm = serverapp.web_app.settings.get("terminal_manager")
    if tm is not None:
        tm._cull_inactive_terminal = ext.enforcer.stock_terminal_check
    if ext.live.gateway is not None:
        km = serverapp.kernel_manager
        km.cull_kernels = functools.partial(AsyncMappingKernelManager.cull_kernels, km)


def _wrap_log_function(settings: dict, classifier: Any, tracker: Any) -> None:
    """Classify every finished request: tornado calls ``log_function`` for all of them."""
    original = settings.get("log_function")

    def log_function(handler: Any) -> None:
        try:
            request = handler.request
            if classifier.counts(request.method, request.path, handler.get_status(),
                                 request.headers):
                tracker.record(policy.USER_API)
        finally:
            if original is not None:
                original(handler)

    settings["log_function"] = log_function


def _watch_input_prompts(ext: Any) -> None:
    from jupyter_server.services.kernels.connection.channels import (
        ZMQChannelsWebsocketConnection,
    )

    from .inputwatch import InputWatchingConnection

    serverapp = ext.serverapp
    configured = "kernel_websocket_connection_class" in serverapp.config.get("ServerApp", {})
    if configured or serverapp.gateway_config.gateway_enabled or (
            serverapp.kernel_websocket_connection_class is not ZMQChannelsWebsocketConnection):
        serverapp.log.info(
            "jupyter_cull_ext: ServerApp.kernel_websocket_connection_class is %s, not ours: "
            "an unanswered input() prompt counts as a busy kernel.",
            serverapp.kernel_websocket_connection_class)
        return
    serverapp.kernel_websocket_connection_class = InputWatchingConnection
    # Into our settings too: jupyter_server copies them over the web app's after load.
    for settings in (serverapp.web_app.settings, ext.settings):
        settings["kernel_websocket_connection_class"] = InputWatchingConnection
