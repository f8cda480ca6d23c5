"""A local JupyterHub demo of jupyter-cull-ext, with timeouts short enough to watch.

Started by `bash scripts/demo.sh`. It is also a worked example for operators: the whole hub
side is the one `configure(...)` call below; the user image only needs
`pip install jupyter-cull-ext` and the server settings passed here as arguments would
normally live in `/etc/jupyter/jupyter_server_config.py`.

Log in with any user name and the password `demo`.

Optional environment overrides (whole seconds; unset means the demo value in brackets), used
by the end-to-end test (`tests/browser/test_hub_e2e.py`) to shrink the demo to test size:

    DEMO_KERNEL_IDLE     an idle kernel is culled after this (120)
    DEMO_SERVER_IDLE     an idle server stops after this (300)
    DEMO_WARN_BEFORE     the warning comes this long before a stop (60)
    DEMO_MAX_AGE         max age of every server (900)
    DEMO_SHORT_MAX_AGE   max age of the servers of the "short" group's members (300)

`PORT` (8000) and `DEMO_DIR` (hub state and user homes) are set by `scripts/demo.sh`.
"""

import os
import sys
from pathlib import Path

from jupyter_cull_ext.hub import configure

c = get_config()  # noqa: F821


def seconds(name: str, default: int) -> int:
    """Whole seconds from the environment variable ``name``, else ``default``."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        number = -1
    if number < 0:
        raise SystemExit(f"{name}={value!r}: expected whole seconds (0 or more)")
    return number


KERNEL_IDLE = seconds("DEMO_KERNEL_IDLE", 120)  # idle kernels go after 2 minutes
SERVER_IDLE = seconds("DEMO_SERVER_IDLE", 300)  # an idle server stops after 5 minutes
WARN_BEFORE = seconds("DEMO_WARN_BEFORE", 60)  # and warns a minute before
MAX_AGE = seconds("DEMO_MAX_AGE", 15 * 60)  # every server stops after 15 minutes
SHORT_MAX_AGE = seconds("DEMO_SHORT_MAX_AGE", 5 * 60)  # 5 for the "short" group

if not os.environ.get("DEMO_DIR"):
    # A predictable /tmp path could be pre-created by another local user; scripts/demo.sh
    # makes a fresh private directory (mktemp -d, 0700) and passes it here.
    raise SystemExit("DEMO_DIR is not set: start the demo with scripts/demo.sh")
here = Path(os.environ["DEMO_DIR"])
bin_dir = Path(sys.executable).parent

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ.get("PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{here}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = str(here / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.pid_file = str(here / "proxy.pid")

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = "demo"
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {"admin"}

# Local processes without switching user (the demo runs as whoever starts it).
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(here / "home" / "{username}")
c.Spawner.cmd = [str(bin_dir / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.args = [
    "--allow-root",
    # what /etc/jupyter/jupyter_server_config.py would say, with demo-sized timeouts:
    f"--MappingKernelManager.cull_idle_timeout={KERNEL_IDLE}",
    f"--ServerApp.shutdown_no_activity_timeout={SERVER_IDLE}",
    f"--CullExt.warn_before={WARN_BEFORE}",
    "--CullExt.keepalive_max=600",  # users may keep it up for 10 minutes at a time
]

# The hub side, in one call: a service that stops servers at their max age (with only the
# scopes it needs), and each server told its own max age and start, so the status bar
# counts down to it. Here: 15 minutes, 5 for members of the "short" group.
configure(c, max_age=MAX_AGE, groups={"short": SHORT_MAX_AGE})
c.JupyterHub.load_groups = {"short": {"users": ["shorty"]}}
