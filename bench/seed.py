"""Seeding a running channel-users server through its own HTTP API.

`put_members` upserts members `bench-0 .. bench-(n-1)` with `PUT /open/v5/users/@bench-<i>` over many
keep-alive connections at once (a small HTTP/1.1 client on asyncio, since a general-purpose client
would be the bottleneck), and returns the user ids in member order.
"""

from __future__ import annotations

import asyncio
import time

import msgspec

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None


class SeedError(RuntimeError):
    pass


async def _worker(
    host: str, port: int, headers: bytes, n: int, next_index: list[int], ids: list[str | None],
    progress: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while True:
            i = next_index[0]
            if i >= n:
                return
            next_index[0] += 1
            body = msgspec.json.encode(
                {"profile": {"name": f"User {i}", "email": f"user{i}@example.com"}, "tags": ["seed"]}
            )
            for attempt in range(5):
                writer.write(
                    b"PUT /open/v5/users/@bench-%d HTTP/1.1\r\nHost: bench\r\n%sContent-Length: %d\r\n\r\n%s"
                    % (i, headers, len(body), body)
                )
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                payload = await reader.readexactly(length)
                if status == 200:
                    ids[i] = msgspec.json.decode(payload)["user"]["id"]
                    break
                if status not in (409, 429, 500, 503) or attempt == 4:
                    raise SeedError(f"PUT @bench-{i} answered {status}: {payload[:300]!r}")
                await asyncio.sleep(0.05 * (attempt + 1))
            progress[0] += 1
    finally:
        writer.close()


async def _put_members(
    host: str, port: int, key: str, secret: str, n: int, connections: int
) -> list[str]:
    headers = (
        f"x-access-key: {key}\r\nx-access-secret: {secret}\r\nContent-Type: application/json\r\n"
    ).encode()
    ids: list[str | None] = [None] * n
    next_index, progress = [0], [0]
    tasks = [
        asyncio.create_task(_worker(host, port, headers, n, next_index, ids, progress))
        for _ in range(min(connections, n))
    ]
    start = time.monotonic()

    async def report() -> None:
        while True:
            await asyncio.sleep(10)
            rate = progress[0] / (time.monotonic() - start)
            print(f"    seeded {progress[0]:,}/{n:,} ({rate:,.0f}/s)", flush=True)

    reporter = asyncio.create_task(report())
    try:
        await asyncio.gather(*tasks)
    finally:
        reporter.cancel()
        for t in tasks:
            t.cancel()
    if any(i is None for i in ids):
        raise SeedError("some members were not seeded")
    return [i for i in ids if i is not None]


def put_members(
    host: str, port: int, key: str, secret: str, n: int, connections: int = 64
) -> list[str]:
    if uvloop is not None:
        return uvloop.run(_put_members(host, port, key, secret, n, connections))
    return asyncio.run(_put_members(host, port, key, secret, n, connections))
