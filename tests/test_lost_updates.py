"""No lost updates: 2 server processes x 32 connections PATCH one user, on SQLite and PostgreSQL.

CI runs 800 PATCHes and 50 profileOnce races per backend; `FULL=1` runs the full sizes (10,000
PATCHes, 400 races of 8 writers): `FULL=1 pytest tests/test_lost_updates.py -s` prints the figures.
A profile holds at most 500 keys (SPEC section 3), so the PATCHes run in rounds of 400 distinct keys,
each checked and then cleared.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import httpx

from .conftest import LiveServer, start_server

FULL = os.environ.get("FULL") == "1"
ROUND = 400  # distinct profile keys per round
ROUNDS = 25 if FULL else 2  # 10,000 PATCHes in full
RACE_KEYS = 400 if FULL else 50
RACE_WRITERS = 8 if FULL else 4
CONNECTIONS = 32


def _client(server: LiveServer) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    return httpx.AsyncClient(base_url=server.base_url, headers=server.headers, limits=limits, timeout=60)


async def _bounded(jobs: list[object]) -> list[httpx.Response]:
    gate = asyncio.Semaphore(CONNECTIONS)

    async def run(job: object) -> httpx.Response:
        async with gate:
            return await job  # type: ignore[misc, no-any-return]

    return await asyncio.gather(*(run(job) for job in jobs))


async def _patches(server: LiveServer) -> dict[str, float]:
    async with _client(server) as client:
        r = await client.put("/open/v5/users/@hot", json={"profile": {"seed": 0}})
        assert r.status_code == 200, r.text
        user_path = f"/open/v5/users/{r.json()['user']['id']}"
        version = r.json()["user"]["version"]
        started = time.monotonic()
        for n in range(ROUNDS):
            order = list(range(ROUND))
            random.shuffle(order)
            jobs = [
                client.patch(
                    user_path,
                    json={"profile": {f"k{j}": n * ROUND + j}},
                    headers={"idempotency-key": f"{n}-{j}"},
                )
                for j in order
            ]
            answers = await _bounded(jobs)  # type: ignore[arg-type]
            assert [a.status_code for a in answers] == [200] * ROUND, [
                a.text for a in answers if a.status_code != 200
            ][:3]
            seen = sorted(a.json()["user"]["version"] for a in answers)
            assert seen == list(range(version + 1, version + ROUND + 1)), "two writes saw the same version"
            for j, answer in zip(order, answers, strict=True):
                assert answer.json()["user"]["profile"][f"k{j}"] == n * ROUND + j
            user = (await client.get(user_path)).json()["user"]
            assert user["version"] == version + ROUND
            assert {f"k{j}": n * ROUND + j for j in range(ROUND)}.items() <= user["profile"].items(), (
                "lost update"
            )
            cleared = await client.patch(user_path, json={"profile": None, "tags": [f"round{n}"]})
            version = cleared.json()["user"]["version"]
            assert version == user["version"] + 1
        elapsed = time.monotonic() - started
    return {"patches": ROUNDS * ROUND, "seconds": elapsed, "per_second": ROUNDS * ROUND / elapsed}


async def _races(server: LiveServer) -> dict[str, float]:
    async with _client(server) as client:
        r = await client.put("/open/v5/users/@race", json={"tags": ["race"]})
        user_path = f"/open/v5/users/{r.json()['user']['id']}"
        start_version = r.json()["user"]["version"]
        plan = [(k, w) for k in range(RACE_KEYS) for w in range(RACE_WRITERS)]
        random.shuffle(plan)
        started = time.monotonic()
        jobs = [client.patch(user_path, json={"profileOnce": {f"o{k}": f"writer{w}"}}) for k, w in plan]
        answers = await _bounded(jobs)  # type: ignore[arg-type]
        elapsed = time.monotonic() - started
        assert {a.status_code for a in answers} == {200}
        final = (await client.get(user_path)).json()["user"]
        assert final["version"] == start_version + RACE_KEYS, "more (or fewer) than one writer won a key"
        by_key: dict[int, set[str]] = {}
        for (k, _), answer in zip(plan, answers, strict=True):
            by_key.setdefault(k, set()).add(answer.json()["user"]["profile"][f"o{k}"])
        for k, values in by_key.items():
            assert values == {final["profile"][f"o{k}"]}, f"a loser of o{k} saw another value: {values}"
    return {"races": RACE_KEYS, "writers": RACE_WRITERS, "seconds": elapsed}


def test_no_lost_updates_two_processes(server_database: str, tmp_path: Path) -> None:
    server = start_server(server_database, tmp_path, workers=2)
    try:
        patches = asyncio.run(_patches(server))
        races = asyncio.run(_races(server))
    finally:
        server.stop()
    backend = server_database.split(":")[0]
    print(
        f"\nlost-updates {backend}: {patches['patches']} PATCHes in {patches['seconds']:.1f} s "
        f"({patches['per_second']:.0f}/s), 0 lost; {races['races']} profileOnce races x "
        f"{races['writers']} writers in {races['seconds']:.1f} s, one winner each"
    )
