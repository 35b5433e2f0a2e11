"""Per-channel rate limits: headers on every authenticated answer, 429 with Retry-After, channels
apart, the limit parsing, and how exactly a limit holds with two server processes."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from channel_users.app import create_app
from channel_users.ratelimit import RateLimit
from channel_users.store import Credentials, Store

from .conftest import auth_headers, start_server

WINDOW = 3600.0


async def away_from_window_end(window: float, margin: float = 3.0) -> None:
    """Waits out the end of the current window if it is near, so that a test's requests share one."""
    left = window - time.time() % window
    if left < margin:
        await asyncio.sleep(left + 0.05)


@pytest.fixture
async def limited(store: Store, channel: Credentials) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(store, rate_limit=RateLimit(5, WINDOW))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=auth_headers(channel)
    ) as client:
        yield client


async def test_headers_count_down_then_429_with_retry_after(limited: httpx.AsyncClient) -> None:
    await away_from_window_end(WINDOW)
    reset = str(math.ceil((time.time() // WINDOW + 1) * WINDOW))
    remaining = []
    for path in (
        "/open/v5/channel",
        "/open/v5/users/@nobody",
        "/open/v5/channel",
        "/open/v5/webhooks",
        "/open/v5/channel",
    ):
        r = await limited.get(path)
        assert r.status_code in (200, 404)
        assert r.headers["x-ratelimit-limit"] == "5"
        assert r.headers["x-ratelimit-reset"] == reset
        remaining.append(r.headers["x-ratelimit-remaining"])
    assert remaining == ["4", "3", "2", "1", "0"]
    r = await limited.get("/open/v5/channel")
    assert r.status_code == 429
    assert r.json() == {
        "type": "too_many_requests",
        "status": 429,
        "errors": [{"message": "rate limit exceeded"}],
    }
    assert r.headers["x-ratelimit-remaining"] == "0" and r.headers["x-ratelimit-reset"] == reset
    assert 1 <= int(r.headers["retry-after"]) <= WINDOW
    assert int(r.headers["retry-after"]) == pytest.approx(int(reset) - time.time(), abs=2)


async def test_channels_are_limited_apart_and_unauthenticated_answers_carry_no_headers(
    store: Store, channel: Credentials, other_channel: Credentials
) -> None:
    await away_from_window_end(WINDOW)
    app = create_app(store, rate_limit=RateLimit(2, WINDOW))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        codes = [
            (await client.get("/open/v5/channel", headers=auth_headers(channel))).status_code
            for _ in range(3)
        ]
        assert codes == [200, 200, 429]
        r = await client.get("/open/v5/channel", headers=auth_headers(other_channel))
        assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "1"
        r = await client.get("/open/v5/channel")
        assert r.status_code == 401 and "x-ratelimit-limit" not in r.headers


async def test_no_limit_no_headers(api: httpx.AsyncClient) -> None:
    r = await api.get("/open/v5/channel")
    assert r.status_code == 200 and "x-ratelimit-limit" not in r.headers


async def test_a_new_window_starts_afresh(store: Store, channel: Credentials) -> None:
    app = create_app(store, rate_limit=RateLimit(1, 0.5))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://t", headers=auth_headers(channel)
    ) as client:
        await away_from_window_end(0.5, 0.3)
        assert (await client.get("/open/v5/channel")).status_code == 200
        assert (await client.get("/open/v5/channel")).status_code == 429
        await away_from_window_end(0.5, 0.5)
        assert (await client.get("/open/v5/channel")).status_code == 200


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("off", None),
        ("", None),
        ("100/1s", RateLimit(100, 1)),
        ("100/s", RateLimit(100, 1)),
        ("600/min", RateLimit(600, 60)),
        ("5/10", RateLimit(5, 10)),
        ("1000/1h", RateLimit(1000, 3600)),
    ],
)
def test_parse(text: str, expected: RateLimit | None) -> None:
    assert RateLimit.parse(text) == expected


@pytest.mark.parametrize("text", ["100", "x/1s", "0/1s", "10/0s", "10/1d"])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        RateLimit.parse(text)


def test_chunk() -> None:
    assert [RateLimit(n, 1).chunk for n in (1, 20, 39, 40, 100, 1000)] == [1, 1, 1, 2, 5, 50]


LIMIT = 100
MULTI_WINDOW = 10.0


def test_two_processes_never_admit_more_than_the_limit(server_database: str, tmp_path: Path) -> None:
    """Measures a 100-per-10s limit served by 2 processes: per window, admitted <= 100, and when
    the window was exhausted, admitted >= 100 - (2 - 1) * (chunk - 1) = 96."""
    rate = RateLimit(LIMIT, MULTI_WINDOW)
    server = start_server(
        server_database, tmp_path, workers=2, env={"CHANNEL_USERS_RATE_LIMIT": f"{LIMIT}/{MULTI_WINDOW:g}s"}
    )
    try:

        async def hammer() -> list[httpx.Response]:
            asyncio_limits = httpx.Limits(max_keepalive_connections=0)  # every request a new connection
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=server.headers, limits=asyncio_limits
            ) as c:
                await away_from_window_end(MULTI_WINDOW, 4)
                gate = asyncio.Semaphore(16)

                async def one() -> httpx.Response:
                    async with gate:
                        return await c.get("/open/v5/channel")

                return list(await asyncio.gather(*(one() for _ in range(3 * LIMIT))))

        responses = asyncio.run(hammer())
        admitted: Counter[str] = Counter()
        refused: Counter[str] = Counter()
        for r in responses:
            assert r.status_code in (200, 429), r.text
            (admitted if r.status_code == 200 else refused)[r.headers["x-ratelimit-reset"]] += 1
        assert sum(refused.values()) > 0
        for window, count in admitted.items():
            assert count <= LIMIT, (window, count)
            if refused[window]:
                assert count >= LIMIT - (2 - 1) * (rate.chunk - 1), (window, count)
        print(f"admitted per window {dict(admitted)}, refused {dict(refused)}")
    finally:
        server.stop()
