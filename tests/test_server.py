"""The real server over real sockets: several processes, one database, no lost updates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from channel_users.store import Credentials

from .conftest import LiveServer, start_server

CLIENTS = 32
PATCHES_PER_CLIENT = 8


async def test_two_processes_32_clients_lose_no_update(server_database: str, tmp_path: Path) -> None:
    server = start_server(server_database, tmp_path, workers=2)
    try:
        limits = httpx.Limits(max_connections=CLIENTS)
        async with httpx.AsyncClient(base_url=server.base_url, headers=server.headers, limits=limits,
                                     timeout=60) as http:  # fmt: skip
            created = await http.put("/open/v5/users/@shared", json={"profile": {"name": "Kim"}})
            user_id = created.json()["user"]["id"]

            async def client(c: int) -> list[int]:
                statuses = []
                for i in range(PATCHES_PER_CLIENT):
                    body = {"profile": {f"c{c}_{i}": i}}
                    statuses.append((await http.patch(f"/open/v5/users/{user_id}", json=body)).status_code)
                # A request that changes nothing must not bump the version.
                unchanged = await http.patch(f"/open/v5/users/{user_id}", json={"profile": {"name": "Kim"}})
                statuses.append(unchanged.status_code)
                return statuses

            results = await asyncio.gather(*(client(c) for c in range(CLIENTS)))
            assert all(status == 200 for statuses in results for status in statuses)
            final = (await http.get(f"/open/v5/users/{user_id}")).json()["user"]
        expected = {f"c{c}_{i}": i for c in range(CLIENTS) for i in range(PATCHES_PER_CLIENT)}
        assert final["profile"] == {"name": "Kim", **expected}
        assert final["version"] == 1 + CLIENTS * PATCHES_PER_CLIENT
    finally:
        server.stop()


async def test_answered_write_survives_kill_9(server_database: str, tmp_path: Path) -> None:
    server = start_server(server_database, tmp_path)
    try:
        async with httpx.AsyncClient(base_url=server.base_url, headers=server.headers) as http:
            answers = [
                (await http.put(f"/open/v5/users/@m{i}", json={"profile": {"n": i}})).json()["user"]
                for i in range(20)
            ]
        server.kill()
        credentials = Credentials(server.channel_id, server.access_key, server.access_secret)
        restarted = start_server(server_database, tmp_path, credentials=credentials)
        try:
            async with httpx.AsyncClient(base_url=restarted.base_url, headers=restarted.headers) as http:
                for user in answers:
                    got = await http.get(f"/open/v5/users/{user['id']}")
                    assert got.json() == {"user": user}
        finally:
            restarted.stop()
    finally:
        server.stop()


def test_first_run_prints_keys_that_work(live_server: LiveServer) -> None:
    response = httpx.get(live_server.base_url + "/open/v5/channel", headers=live_server.headers)
    assert response.status_code == 200
    assert response.json()["channel"]["id"] == live_server.channel_id
    assert "listening on http://127.0.0.1:" in live_server.log.read_text()
