"""An unanswered ``input()`` is waiting for a person, not work.

A kernel blocked in ``input()`` stays ``busy``, and a busy kernel is activity *now*: a
forgotten prompt would keep a server up until its max age. The prompt is an ``input_request``
on the kernel's stdin channel, which only the websocket between kernel and browser sees, so
this module plugs into jupyter_server's extension point for that connection
(``ServerApp.kernel_websocket_connection_class``; set in ``patches``): it notes when a kernel
asks and when a browser answers. ``InputWaits`` keeps those times; the kernel counts as idle
from the request until it is answered or the kernel is no longer busy (interrupted,
restarted, shut down).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jupyter_server.services.kernels.connection.channels import (
    ZMQChannelsWebsocketConnection,
)

from . import policy
from .activity import ActivityTracker


class InputWaits:
    """Which kernels wait for an answer to a prompt, since when."""

    def __init__(self, tracker: ActivityTracker):
        self.tracker = tracker
        self._since: dict[str, datetime] = {}

    def asked(self, kernel_id: str) -> None:
        self._since.setdefault(kernel_id, self.tracker.now())

    def answered(self, kernel_id: str) -> None:
        if self._since.pop(kernel_id, None) is not None:
            self.tracker.record(policy.INPUT)

    def since(self, kernel_id: str, execution_state: str) -> datetime | None:
        """When the kernel asked, if it still waits (a kernel that is not busy does not)."""
        if execution_state != "busy":
            self._since.pop(kernel_id, None)
            return None
        return self._since.get(kernel_id)


class InputWatchingConnection(ZMQChannelsWebsocketConnection):
    """jupyter_server's kernel websocket connection, noting prompts and their answers."""

    def _waits(self) -> InputWaits | None:
        ext = self.websocket_handler.settings.get("jupyter_cull_ext")
        return getattr(getattr(ext, "live", None), "input_waits", None)

    def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
        channel = stream if isinstance(stream, str) else getattr(stream, "channel", None)
        if channel == "stdin":  # rare: only prompts go this way
            try:
                _, parts = self.session.feed_identities(outgoing_msg)
                if self.session.unpack(parts[1]).get("msg_type") == "input_request":
                    waits = self._waits()
                    if waits is not None:
                        waits.asked(self.kernel_id)
            except Exception:
                self.log.debug("Could not read a stdin message", exc_info=True)
        super().handle_outgoing_message(stream, outgoing_msg)

    def handle_incoming_message(self, incoming_msg: Any) -> None:
        if self._is_stdin(incoming_msg):
            waits = self._waits()
            if waits is not None:
                waits.answered(self.kernel_id)
        super().handle_incoming_message(incoming_msg)

    def _is_stdin(self, ws_msg: Any) -> bool:
        """Whether a browser's message goes to the stdin channel (an ``input_reply``),
        read without decoding every execute request a second time."""
        try:
            if self.subprotocol == "v1.kernel.websocket.jupyter.org":
                # Offsets table first; the channel name lies between the first two offsets.
                start = int.from_bytes(ws_msg[8:16], "little")
                end = int.from_bytes(ws_msg[16:24], "little")
                return ws_msg[start:end] == b"stdin"
            text = ws_msg if isinstance(ws_msg, str) else ws_msg.decode(errors="replace")
            return '"stdin"' in text and '"input_reply"' in text
        except Exception:
            return False
