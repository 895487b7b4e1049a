"""Header and body timeouts of the HTTP server (F20).

uvicorn has a keep-alive timeout but none for reading a request: a client that sends its
headers (or its body) a byte at a time holds a connection for ever, and a few hundred such
clients hold them all (slowloris). :class:`TimedHttpTools` is uvicorn's httptools protocol with
two deadlines: the request line and headers must arrive within ``header_timeout_s`` of the
connection opening (or of the first byte of a following keep-alive request), the body within
``body_timeout_s`` of the headers. A client past a deadline is disconnected. ``pvm serve``
runs uvicorn with it; the values are settings (``PVM_HEADER_TIMEOUT_S``, ``PVM_BODY_TIMEOUT_S``)
read when a connection is made, so every worker process applies them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import get_settings


class TimedHttpTools(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self.header_timeout = settings.header_timeout_s
        self.body_timeout = settings.body_timeout_s
        self.deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self.deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _too_slow(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.logger.info("closed a connection that sent its request too slowly")
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.deadline is None and (self.cycle is None or self.cycle.response_complete):
            self._arm(self.header_timeout)  # the first bytes of a new request on this connection
        super().data_received(data)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()
