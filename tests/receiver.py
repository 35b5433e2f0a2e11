"""A real HTTP receiver of webhook deliveries on 127.0.0.1, run on a thread by the tests."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    status: int  # what the receiver answered

    @property
    def body(self) -> Any:
        return json.loads(self.raw)


class Receiver:
    """Records every POST; `answer(n)` gives the status for the n-th request (0-based), 200 by
    default. `hold` (an Event) makes requests wait until it is set, to keep a delivery in flight."""

    def __init__(self, answer: Callable[[int], int] | None = None) -> None:
        self.answer = answer or (lambda n: 200)
        self.received: list[Received] = []
        self.hold: threading.Event | None = None
        self.arrivals = 0  # requests that arrived, answered or still held
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.arrivals += 1
                if receiver.hold is not None:
                    receiver.hold.wait(30)
                with receiver._lock:
                    status = receiver.answer(len(receiver.received))
                    parts = urlsplit(self.path)
                    receiver.received.append(
                        Received(
                            parts.path,
                            parse_qs(parts.query),
                            {k.lower(): v for k, v in self.headers.items()},
                            raw,
                            status,
                        )
                    )
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:  # the sender is gone (a test killed it)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self._server.shutdown()
        self._server.server_close()

    def delivered(self) -> list[Received]:
        """The requests answered with a 2xx."""
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def events(self) -> list[tuple[str, str]]:
        """(scope, user id) of every successful delivery, in arrival order."""
        return [(r.body["event"], r.body["entity"]["id"]) for r in self.delivered()]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 15.0) -> None:
        """Polls `condition` until it holds; fails the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; received: {[r.raw for r in self.received]}")
            time.sleep(0.02)

    async def until(self, condition: Callable[[], bool], timeout: float = 15.0) -> None:
        """`wait_until` for tests whose event loop runs the deliverer."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; received: {[r.raw for r in self.received]}")
            await asyncio.sleep(0.02)
