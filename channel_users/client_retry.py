"""When the client retries a request, and how long it waits first. Pure functions, no I/O.

A request is retried after a 429, a 5xx or a transport error, if it is safe to repeat: GET and
DELETE always; POST, PUT and PATCH only when they carry an Idempotency-Key (the server then
replays the first answer instead of applying the request twice).
"""

from __future__ import annotations

import email.utils
import random
import time

import httpx

INITIAL_BACKOFF = 0.5
MAX_BACKOFF = 8.0
#: A 429 asking for a longer wait than this is raised at once instead of slept through.
MAX_RETRY_AFTER = 60.0

RETRY_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
IDEMPOTENCY_HEADER = "Idempotency-Key"

#: Exceptions after which the request may not have reached the server, or its answer was lost.
RETRY_EXCEPTIONS: tuple[type[httpx.TransportError], ...] = (
    httpx.NetworkError,
    httpx.TimeoutException,
    httpx.RemoteProtocolError,
)


def can_retry(request: httpx.Request) -> bool:
    """Whether repeating this request cannot apply it twice."""
    return request.method in RETRY_METHODS or IDEMPOTENCY_HEADER in request.headers


def should_retry_status(status: int) -> bool:
    """Whether an answer with this status is worth repeating the request for."""
    return status == 429 or status >= 500


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number `attempt + 1`: exponential, capped, and jittered
    between half and all of that ceiling."""
    ceiling: float = min(MAX_BACKOFF, INITIAL_BACKOFF * 2**attempt)
    return random.uniform(ceiling / 2, ceiling)


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """Seconds the server asks to wait, from `Retry-After` (seconds or an HTTP date) or, failing
    that, `x-ratelimit-reset` (epoch seconds); None if neither header is usable."""
    now = time.time() if now is None else now
    value = response.headers.get("retry-after")
    if value is not None:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None and when.tzinfo is not None:
            return max(0.0, when.timestamp() - now)
    reset = response.headers.get("x-ratelimit-reset")
    if reset is not None:
        try:
            epoch = float(reset)
        except ValueError:
            return None
        # Some rate limiters send the reset time in milliseconds; no epoch in seconds is this large.
        if epoch > 1e11:
            epoch /= 1000
        return max(0.0, epoch - now)
    return None


def delay_before_retry(response: httpx.Response | None, attempt: int) -> float | None:
    """Seconds to wait before repeating a request that got `response` (None: a transport error), or
    None when the server asks for a wait longer than MAX_RETRY_AFTER and the error should be
    raised instead."""
    if response is not None and response.status_code == 429:
        asked = retry_after(response)
        if asked is not None:
            if asked > MAX_RETRY_AFTER:
                return None
            # A little jitter on top, so clients told the same reset time do not return all at once.
            return asked + random.uniform(0, min(1.0, INITIAL_BACKOFF))
    return backoff(attempt)
