"""The hub companion: a JupyterHub service that stops servers at their max age.

``configure(c, max_age=..., groups=...)`` in ``jupyterhub_config.py`` sets up everything;
``python -m jupyter_cull_ext.hub`` (or ``jupyter-cull-hub``) is the service itself. It talks to
the hub only through its REST API with the scopes ``list:users``, ``read:servers`` and
``delete:servers`` (plus ``read:users:groups`` for a per-group policy). See ``docs/hub.md``.

Modules: ``rules`` (pure: limits, deadlines, reasons), ``options`` (every option and its
default, once), ``hubapi`` (the REST calls), ``companion`` (sweeps, timers, re-reads before
stopping), ``stops`` (the stop itself, slow stops, retries), ``cli`` (the command),
``configure`` (the hub helper).
This package never imports the server extension (``app``, ``enforce``, ``handlers``).
"""

from .configure import configure

__all__ = ["configure"]
