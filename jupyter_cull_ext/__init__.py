"""Honest culling for Jupyter servers: activity that means a person or real work,
deadlines computed in one place, and enforcement at those deadlines."""

__version__ = "0.1.0"


def _jupyter_server_extension_points():
    from .app import CullExt

    return [{"module": "jupyter_cull_ext.app", "app": CullExt}]


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyter-cull-ext"}]
