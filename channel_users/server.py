"""Connection limits that keep one bad client from hurting the others (docs/reliability.md).

uvicorn bounds idle keep-alive connections and concurrency, but not a client that sends its request
head slowly (slowloris), a head of any size, or a body that trickles in. `GuardedHttpTools` adds:
a deadline for the request head, one for the body, and a cap on the head's size.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024  # request line and headers; more is a 431
HEAD_TIMEOUT = float(os.environ.get("CHANNEL_USERS_HEAD_TIMEOUT", "10"))  # seconds to send the head
BODY_TIMEOUT = float(os.environ.get("CHANNEL_USERS_BODY_TIMEOUT", "30"))  # seconds to send the body

# Passed to uvicorn by `serve`.
UVICORN_LIMITS: dict[str, Any] = {
    "timeout_keep_alive": 5,  # an idle keep-alive connection is closed after 5 s
    "limit_concurrency": 1000,  # connections or requests per process; beyond it, 503
    "backlog": 2048,  # pending connections the kernel queues before accepting
    "h11_max_incomplete_event_size": MAX_HEAD_BYTES,  # the same head cap, should h11 be used
    "timeout_graceful_shutdown": 10,
}

_HEAD_TOO_LARGE_BODY = (
    b'{"type":"request_header_fields_too_large","status":431,'
    b'"errors":[{"message":"request head over 64 KiB","field":"headers"}]}'
)
_HEADER_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: %d\r\n\r\n" % len(_HEAD_TOO_LARGE_BODY)
) + _HEAD_TOO_LARGE_BODY


class GuardedHttpTools(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines for the request head and body and a head cap."""

    _head_bytes = 0
    _in_head = True
    _discarding = False  # answered 431: the rest of the head is read and dropped until the deadline
    _deadline: asyncio.TimerHandle | None = None

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(HEAD_TIMEOUT)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > MAX_HEAD_BYTES and not self.transport.is_closing():
            # Closing with unread input would reset the connection and lose the answer, so the
            # answer is sent, the write side shut, and input dropped until the client closes.
            self._discarding = True
            self.transport.write(_HEADER_TOO_LARGE)
            if self.transport.can_write_eof():
                self.transport.write_eof()
            self._arm(HEAD_TIMEOUT)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(HEAD_TIMEOUT)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._arm(BODY_TIMEOUT)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        self._in_head = True  # what arrives next is the head of the next request
        self._head_bytes = 0
        super().on_message_complete()
