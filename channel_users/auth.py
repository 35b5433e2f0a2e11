"""Key-pair authentication: `x-access-key` and `x-access-secret` name a channel."""

from __future__ import annotations

import hmac
import time

from starlette.requests import Request

from .errors import Unauthorized
from .store import Store
from .store.base import hash_secret

CACHE_SECONDS = 2.0


class Authenticator:
    """Resolves a request's key pair to its channel id.

    Key records are cached for `cache_seconds` so that a PostgreSQL round trip is not paid on
    every request; a deleted key therefore stops working within that time.
    """

    def __init__(self, store: Store, cache_seconds: float = CACHE_SECONDS) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, tuple[str, bytes] | None]] = {}

    async def _key(self, access_key: str) -> tuple[str, bytes] | None:
        now = time.monotonic()
        cached = self._cache.get(access_key)
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        record = await self.store.find_key(access_key)
        if len(self._cache) > 10_000:  # unknown keys must not grow the cache without bound
            self._cache.clear()
        self._cache[access_key] = (now, record)
        return record

    async def channel_id(self, request: Request) -> str:
        """The caller's channel id. Raises Unauthorized for a missing or wrong key pair."""
        access_key = request.headers.get("x-access-key")
        secret = request.headers.get("x-access-secret")
        if not access_key or not secret:
            raise Unauthorized()
        record = await self._key(access_key)
        # Hash and compare even for an unknown key so that timing does not reveal which keys exist.
        expected = record[1] if record else b"\0" * 32
        if not hmac.compare_digest(hash_secret(secret), expected) or record is None:
            raise Unauthorized()
        return record[0]
