"""The PostgreSQL reference: a loop of single-statement UPDATEs from Python (asyncpg) on the same
database the server uses, on a table of the same population and row shape, one statement per
transaction (autocommit), `connections` loops at once."""

from __future__ import annotations

import asyncio
import json
import random
import secrets
import time

import asyncpg

from bench.load import Result

TABLE = "bench_update_loop"


async def prepare(dsn: str, population: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await conn.execute(
            f"CREATE TABLE {TABLE} (id text PRIMARY KEY, profile jsonb NOT NULL, tags jsonb NOT NULL,"
            " unsubscribe_email boolean NOT NULL, version integer NOT NULL, updated_at bigint NOT NULL)"
        )
        ts = int(time.time() * 1000)
        rows = (
            (f"{i:020x}", json.dumps({"name": f"User {i}", "email": f"user{i}@example.com"}),
             '["seed"]', False, 1, ts)
            for i in range(population)
        )
        await conn.copy_records_to_table(
            TABLE, records=rows,
            columns=["id", "profile", "tags", "unsubscribe_email", "version", "updated_at"],
        )
        await conn.execute(f"ANALYZE {TABLE}")
    finally:
        await conn.close()


async def _loop(dsn: str, population: int, deadline: float, lat: list[float]) -> int:
    conn = await asyncpg.connect(dsn)
    sql = (
        f"UPDATE {TABLE} SET profile = profile || $2::jsonb, tags = $3::jsonb,"
        " unsubscribe_email = $4, version = version + 1, updated_at = $5 WHERE id = $1"
    )
    n = 0
    try:
        while (t0 := time.perf_counter()) < deadline:
            i = random.randrange(population)
            profile = json.dumps({"name": f"User {i}", "mobileNumber": "+821012345678",
                                  "plan": secrets.token_hex(4)})
            await conn.execute(sql, f"{i:020x}", profile, '["vip","newsletter"]', i % 2 == 0,
                               int(time.time() * 1000))
            lat.append(time.perf_counter() - t0)
            n += 1
    finally:
        await conn.close()
    return n


async def _measure(dsn: str, population: int, connections: int, duration: float) -> Result:
    lat: list[float] = []
    start = time.perf_counter()
    counts = await asyncio.gather(
        *(_loop(dsn, population, start + duration, lat) for _ in range(connections))
    )
    elapsed = time.perf_counter() - start
    lat.sort()
    total = sum(counts)
    return Result(
        rps=total / elapsed,
        p50_ms=lat[len(lat) // 2] * 1000 if lat else 0.0,
        p99_ms=lat[int(len(lat) * 0.99)] * 1000 if lat else 0.0,
        requests=total,
        non200=0,
        command=f"asyncpg UPDATE loop, {connections} connection(s), {duration:g}s",
    )


def measure(dsn: str, population: int, connections: int, duration: float) -> Result:
    return asyncio.run(_measure(dsn, population, connections, duration))
