"""Python client for the Channel Open API v5 user resource, on httpx.

The same code talks to the real `https://api.channel.io` and to a channel-users server:

    with Client(access_key, access_secret, base_url="http://127.0.0.1:8080") as client:
        user = client.users.upsert("member-1", profile={"name": "Ada"}, tags=["vip"])

`Client` is synchronous, `AsyncClient` the same with `await`. Every method raises a ClientError
subclass (see `client_errors`) when it fails; 429s, 5xx answers and transport errors are retried
first, with exponential backoff and jitter, when the request is safe to repeat (see
`client_retry`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self

import httpx

from channel_users.client_calls import Call, decode
from channel_users.client_errors import TransportError
from channel_users.client_retry import (
    IDEMPOTENCY_HEADER,
    RETRY_EXCEPTIONS,
    can_retry,
    delay_before_retry,
    should_retry_status,
)
from channel_users.client_users import AsyncUsers, Users

DEFAULT_BASE_URL = "https://api.channel.io"
DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 2
USER_AGENT = "channel-users-python/0.1.0"

#: Methods whose requests carry a generated Idempotency-Key, so that they may be retried.
KEYED_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _BaseClient:
    def __init__(
        self,
        access_key: str,
        access_secret: str,
        *,
        base_url: str,
        max_retries: int,
    ) -> None:
        if not access_key or not access_secret:
            raise ValueError("access_key and access_secret are required")
        if max_retries < 0:
            raise ValueError("max_retries must be 0 or more")
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self._headers = {
            "x-access-key": access_key,
            "x-access-secret": access_secret,
            "accept": "application/json",
            "user-agent": USER_AGENT,
        }

    def _headers_for(self, call: Call) -> dict[str, str]:
        headers = {}
        if call.if_match is not None:
            headers["If-Match"] = f'"{call.if_match}"'
        if call.method in KEYED_METHODS:
            # One key per call, reused by every retry of it: the server replays instead of
            # re-applying.
            headers[IDEMPOTENCY_HEADER] = str(uuid.uuid4())
        return headers

    def _retry_delay(
        self,
        request: httpx.Request,
        attempt: int,
        response: httpx.Response | None = None,
        exc: Exception | None = None,
    ) -> float | None:
        """Seconds to wait before trying `request` again, or None to stop trying."""
        if attempt >= self.max_retries or not can_retry(request):
            return None
        if response is not None and not should_retry_status(response.status_code):
            return None
        if exc is not None and not isinstance(exc, RETRY_EXCEPTIONS):
            return None
        return delay_before_retry(response, attempt)


def _transport_error(request: httpx.Request, exc: httpx.TransportError) -> TransportError:
    detail = str(exc) or type(exc).__name__
    return TransportError(f"no answer from {request.url.host}: {detail}", request=request)


class Client(_BaseClient):
    """Synchronous client; use as a context manager, or call `close()` when done."""

    def __init__(
        self,
        access_key: str,
        access_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """`max_retries` is how many times a failed request is repeated (0: never); `transport`
        replaces httpx's network transport, e.g. with an httpx.MockTransport."""
        super().__init__(access_key, access_secret, base_url=base_url, max_retries=max_retries)
        self._http = httpx.Client(
            base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport
        )
        self._sleep: Callable[[float], None] = time.sleep
        self.users = Users(self)

    def request(
        self, method: str, path: str, *, json: Any = None, if_match: int | None = None
    ) -> dict[str, Any]:
        """Send one request to `path` (below the base URL) with retries; the JSON object it answers
        with. Raises a ClientError subclass on failure."""
        return self._send(Call(method.upper(), path, json, if_match))[0]

    def _send(self, call: Call) -> tuple[dict[str, Any], httpx.Response]:
        request = self._http.build_request(
            call.method, call.path, json=call.body, headers=self._headers_for(call)
        )
        attempt = 0
        while True:
            try:
                response = self._http.send(request)
            except httpx.TransportError as exc:
                delay = self._retry_delay(request, attempt, exc=exc)
                if delay is None:
                    raise _transport_error(request, exc) from exc
            else:
                delay = self._retry_delay(request, attempt, response=response)
                if delay is None:
                    return decode(response), response
            self._sleep(delay)
            attempt += 1

    def close(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncClient(_BaseClient):
    """Asynchronous client; use as an async context manager, or `await aclose()` when done."""

    def __init__(
        self,
        access_key: str,
        access_secret: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """As `Client`, with an async `transport`."""
        super().__init__(access_key, access_secret, base_url=base_url, max_retries=max_retries)
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=timeout, transport=transport
        )
        self._sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.users = AsyncUsers(self)

    async def request(
        self, method: str, path: str, *, json: Any = None, if_match: int | None = None
    ) -> dict[str, Any]:
        """As `Client.request`."""
        return (await self._send(Call(method.upper(), path, json, if_match)))[0]

    async def _send(self, call: Call) -> tuple[dict[str, Any], httpx.Response]:
        request = self._http.build_request(
            call.method, call.path, json=call.body, headers=self._headers_for(call)
        )
        attempt = 0
        while True:
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                delay = self._retry_delay(request, attempt, exc=exc)
                if delay is None:
                    raise _transport_error(request, exc) from exc
            else:
                delay = self._retry_delay(request, attempt, response=response)
                if delay is None:
                    return decode(response), response
            await self._sleep(delay)
            attempt += 1

    async def aclose(self) -> None:
        """Close the connection pool; the client cannot be used afterwards."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
