"""What differs across the jupyter_server versions we support (README, "Supported versions").

jupyter_server calls an extension's start hook (``_start_jupyter_server_extension``, once the
event loop runs) only from 2.16 on. Before that nothing calls it, so the enforcer and the hub
reporter would never start: deadlines shown in the status but never enforced.
"""

from __future__ import annotations

from typing import Any

from jupyter_server import __version__ as SERVER_VERSION
from jupyter_server.extension.manager import ExtensionManager

#: Whether this jupyter_server starts extensions itself (2.16 and later).
SERVER_STARTS_EXTENSIONS = hasattr(ExtensionManager, "start_all_extensions")


def start_if_server_will_not(app: Any, serverapp: Any) -> None:
    """Where jupyter_server will not call ``app``'s start hook, have it run as soon as the
    server's event loop runs, as 2.16's ServerApp does. Called when ``app`` loads."""
    if SERVER_STARTS_EXTENSIONS:
        return

    async def start() -> None:
        try:
            await app._start_jupyter_server_extension(serverapp)
        except Exception:
            # As jupyter_server 2.16 reports a failing start hook, but never quietly.
            serverapp.log.critical("%s | extension failed starting", app.name, exc_info=True)

    serverapp.log.info("%s | jupyter_server %s does not start extensions; starting it "
                       "when the event loop runs.", app.name, SERVER_VERSION)
    serverapp.io_loop.add_callback(start)

