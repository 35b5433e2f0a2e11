"""Ids and clocks shaped like upstream's."""

from __future__ import annotations

import secrets
import time


def new_id() -> str:
    """A 20-hex-character id: 8 of the creation time in epoch seconds, then 12 random.

    Upstream's user and event ids have this shape (e.g. `5f0c1435e68c92da02fd`).
    """
    return f"{int(time.time()) & 0xFFFFFFFF:08x}{secrets.token_hex(6)}"


def is_id(value: str) -> bool:
    return len(value) == 20 and all(c in "0123456789abcdef" for c in value)


def now_ms() -> int:
    """Epoch milliseconds, the unit of every upstream timestamp."""
    return time.time_ns() // 1_000_000
