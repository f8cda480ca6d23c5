"""Our decisions as jupyter_events events (schema ``cull.yaml`` beside this file).

Events carry ``by: culler`` (or ``user``), which jupyter_server's ``kernel_actions`` event,
the same for a cull and a user's shutdown, cannot tell.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

SCHEMA_ID = "https://jupyter-cull-ext.readthedocs.io/events/cull"
SCHEMA_PATH = Path(__file__).parent / "cull.yaml"


class CullEvents:
    """Emits our decisions as events of schema ``SCHEMA_ID``; never raises.

    ``emit(kind, **fields)`` is the one entry point (the enforcer and the hub reporter call
    it); ``by`` defaults to ``"culler"``, and fields that are None are left out.
    """

    def __init__(self, event_logger: Any, log: Any):
        self.event_logger = event_logger
        self.log = log
        if SCHEMA_ID not in event_logger.schemas:
            event_logger.register_event_schema(SCHEMA_PATH)

    def emit(self, kind: str, **fields: Any) -> None:
        data = {"action": kind, "by": "culler"}
        data.update({k: v for k, v in fields.items() if v is not None})
        try:
            self.event_logger.emit(schema_id=SCHEMA_ID, data=data)
        except Exception:
            self.log.warning("jupyter_cull_ext: could not emit the %s event", kind,
                             exc_info=True)
