"""What JupyterLab is told to load, on every version we support (README, "Supported versions").

The extension's connection-lost handler takes over from JupyterLab's by providing the same
service (the last provider registered wins, and federated extensions register after
JupyterLab's own), not by disabling JupyterLab's: where our extension does not load, users
keep JupyterLab's dialog rather than getting neither.
"""

from __future__ import annotations

import pytest
from jupyter_core.paths import jupyter_path
from jupyterlab_server.config import get_page_config

HUB_CONNECTION_LOST = "@jupyterlab/hub-extension:connectionlost"


@pytest.mark.oldest
def test_jupyterlabs_connection_lost_handler_stays_enabled() -> None:
    page = get_page_config(jupyter_path("labextensions"))
    assert "jupyter-cull-ext" in [ext["name"] for ext in page["federated_extensions"]], page
    assert HUB_CONNECTION_LOST not in page["disabledExtensions"], page["disabledExtensions"]
