"""Per-channel rate limits (SPEC section 5): fixed windows with a counter shared by every process.

Windows are aligned to multiples of the window length since the epoch. The count of a channel's
window lives in the database (`rate_counters`), so it holds across server processes; to keep a
database write off most requests, each process takes budget from it in chunks of
`max(1, limit // 20)` requests and spends them locally. Consequences, documented in
docs/rate-limits.md and measured by tests/test_ratelimit.py:
- never more than `limit` requests of a channel are admitted in a window, whatever the processes;
- a process may hold an unspent chunk while another refuses, so with N processes up to
  (N - 1) * (chunk - 1) requests fewer may be admitted (none when limit <= 39, the chunk being 1).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from dataclasses import dataclass

from .errors import TooManyRequests
from .store import Store

_RATE = re.compile(r"(?P<limit>\d+)/(?P<count>\d+(?:\.\d+)?)?(?P<unit>s|m|h|sec|min|hour)?")
_UNITS = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600}


@dataclass(frozen=True)
class RateLimit:
    limit: int
    window: float  # seconds

    @classmethod
    def parse(cls, text: str) -> RateLimit | None:
        """`N/WINDOW` such as `100/1s`, `600/min` or `5/10` (seconds); `off` (or empty) is None.

        Raises ValueError for anything else."""
        text = text.strip().lower()
        if text in ("", "off", "0", "none"):
            return None
        match = _RATE.fullmatch(text)
        if match is None:
            raise ValueError(f"rate limit {text!r}: use N/WINDOW such as 100/1s, 600/min or off")
        seconds = float(match["count"] or 1) * _UNITS[match["unit"]]
        if int(match["limit"]) < 1 or seconds <= 0:
            raise ValueError(f"rate limit {text!r}: the limit and the window must be positive")
        return cls(int(match["limit"]), seconds)

    @property
    def chunk(self) -> int:
        return max(1, self.limit // 20)


@dataclass
class _Budget:
    window_start: int  # epoch ms
    tokens: int = 0  # granted to this process and not spent yet
    used: int = 0  # the shared counter when this process last took budget
    exhausted: bool = False  # the shared counter reached the limit for this window


class RateLimiter:
    def __init__(self, store: Store, rate: RateLimit) -> None:
        self.store = store
        self.rate = rate
        self._budgets: dict[str, _Budget] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def check(self, channel_id: str) -> dict[str, str]:
        """Spends one request of the channel's window; returns the `x-ratelimit-*` headers.

        Raises TooManyRequests (with the headers and `Retry-After`) when the window is spent."""
        now = time.time()
        window_ms = int(self.rate.window * 1000)
        start = int(now * 1000) // window_ms * window_ms
        budget = self._budgets.get(channel_id)
        if budget is None or budget.window_start != start:
            budget = self._budgets[channel_id] = _Budget(start)
        if budget.tokens == 0 and not budget.exhausted:
            lock = self._locks.setdefault(channel_id, asyncio.Lock())
            async with lock:  # one take at a time per channel; the others wait for its tokens
                if budget.tokens == 0 and not budget.exhausted:
                    chunk = self.rate.chunk
                    granted, used = await self.store.take_rate_budget(
                        channel_id, start, chunk, self.rate.limit
                    )
                    budget.tokens += granted
                    budget.used = used
                    budget.exhausted = granted < chunk
        end = (start + window_ms) / 1000
        headers = {
            "x-ratelimit-limit": str(self.rate.limit),
            "x-ratelimit-reset": str(math.ceil(end)),
        }
        if budget.tokens == 0:
            headers["x-ratelimit-remaining"] = "0"
            headers["retry-after"] = str(max(1, math.ceil(end - now)))
            raise TooManyRequests(headers=headers)
        budget.tokens -= 1
        headers["x-ratelimit-remaining"] = str(max(0, self.rate.limit - budget.used) + budget.tokens)
        if len(self._budgets) > 100_000:  # forget idle channels rather than grow without bound
            self._budgets = {channel_id: budget}
        return headers
