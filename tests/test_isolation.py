"""Isolation: every endpoint x (no keys, wrong secret, another channel's keys, a deleted key).

Never another channel's data, never a 500, never a hint that the user exists: each request is sent
twice, once aimed at the victim's user and once at a user that never existed, and the two answers
must not differ (bytes for errors; status and channel for the caller's own creations).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
from pathlib import Path

import httpx

from channel_users.app import create_app
from channel_users.auth import CACHE_SECONDS
from channel_users.endpoints import user_routes
from channel_users.ids import new_id, now_ms
from channel_users.store import Credentials, Store

from .dbutil import fetch_all

UNAUTHORIZED = (
    b'{"type":"unauthorized","status":401,"errors":[{"message":'
    b'"missing or invalid x-access-key / x-access-secret"}]}'
)
BODIES = {"PATCH": {"profile": {"name": "Mallory"}}, "PUT": {"profile": {"name": "Mallory"}}}


def _requests(user_id: str, member_id: str) -> list[tuple[str, str]]:
    """(method, path) of every endpoint, aimed at this user or member."""
    out = []
    for route in user_routes().routes:
        parts = []
        for part in route.pattern:
            if part.startswith("@{"):
                parts.append("@" + member_id)
            elif part.startswith("{"):
                parts.append(user_id)
            else:
                parts.append(part)
        out += [(method, "/open/v5/" + "/".join(parts)) for method in route.handlers]
    return out


async def _send(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
    body = BODIES.get(method, {"profile": {"name": "Mallory"}} if path.endswith("/users") else None)
    if body is None:
        return await client.request(method, path, headers=headers)
    return await client.request(method, path, headers=headers, json=body)


async def test_isolation_matrix(
    store: Store, channel: Credentials, other_channel: Credentials, database_url: str
) -> None:
    canary = "canary-" + secrets.token_hex(8)
    app = create_app(store)  # the default key cache, as a server runs it
    doomed = await store.create_key(channel.channel_id, now_ms())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        own = {"x-access-key": channel.access_key, "x-access-secret": channel.access_secret}
        r = await client.put(
            "/open/v5/users/@victim",
            headers=own,
            json={"profile": {"name": canary, "email": "v@example.com"}},
        )
        assert r.status_code == 200
        victim = r.json()["user"]
        doomed_headers = {"x-access-key": doomed.access_key, "x-access-secret": doomed.access_secret}
        assert (await client.get(f"/open/v5/users/{victim['id']}", headers=doomed_headers)).status_code == 200
        assert await store.delete_key(doomed.access_key)
        await asyncio.sleep(CACHE_SECONDS + 0.1)  # the cached record of the deleted key expires
        before = await fetch_all(database_url, "SELECT id, version, doc FROM users ORDER BY id")
        identities = {
            "no keys": {},
            "key without secret": {"x-access-key": channel.access_key},
            "wrong secret": {"x-access-key": channel.access_key, "x-access-secret": "0" * 32},
            "unknown key": {"x-access-key": "f" * 24, "x-access-secret": channel.access_secret},
            "deleted key": doomed_headers,
            "other channel": {
                "x-access-key": other_channel.access_key,
                "x-access-secret": other_channel.access_secret,
            },
        }
        cells = 0
        for name, headers in identities.items():
            aimed = _requests(victim["id"], "victim")
            absent = _requests(new_id(), "nobody-" + name.replace(" ", "-"))
            for (method, path), (_, absent_path) in zip(aimed, absent, strict=True):
                answer = await _send(client, method, path, headers)
                control = await _send(client, method, absent_path, headers)
                cells += 1
                where = f"{name}: {method} {path}"
                assert answer.status_code < 500, where
                assert canary not in answer.text and victim["id"] not in answer.text, where
                assert answer.status_code == control.status_code, where
                if name != "other channel":
                    assert (answer.status_code, answer.content) == (401, UNAUTHORIZED), where
                    continue
                if answer.status_code >= 400:
                    assert answer.content == control.content, where
                    assert answer.status_code == 404, where
                elif "user" in answer.json():
                    assert answer.json()["user"]["channelId"] == other_channel.channel_id, where
                elif "channel" in answer.json():
                    assert answer.json()["channel"]["id"] == other_channel.channel_id, where
        assert cells == 6 * len(_requests("x", "y")) >= 6 * 10
        assert await fetch_all(
            database_url, f"SELECT id, version, doc FROM users WHERE id = '{victim['id']}'"
        ) == [row for row in before if row[0] == victim["id"]]
        # the victim's own key still sees the victim unchanged
        r = await client.get(f"/open/v5/users/{victim['id']}", headers=own)
        assert r.json()["user"] == victim


async def test_deleted_key_stops_working_within_the_cache_time(store: Store, channel: Credentials) -> None:
    extra = await store.create_key(channel.channel_id, now_ms())
    headers = {"x-access-key": extra.access_key, "x-access-secret": extra.access_secret}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(store)), base_url="http://t"
    ) as c:
        assert (await c.get("/open/v5/channel", headers=headers)).status_code == 200
        await store.delete_key(extra.access_key)
        await asyncio.sleep(CACHE_SECONDS + 0.1)
        assert (await c.get("/open/v5/channel", headers=headers)).status_code == 401
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(store, key_cache_seconds=0)), base_url="http://t"
    ) as c:
        again = await store.create_key(channel.channel_id, now_ms())
        headers = {"x-access-key": again.access_key, "x-access-secret": again.access_secret}
        assert (await c.get("/open/v5/channel", headers=headers)).status_code == 200
        await store.delete_key(again.access_key)
        assert (await c.get("/open/v5/channel", headers=headers)).status_code == 401


def test_cli_delete_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    run = [sys.executable, "-m", "channel_users", "channels"]
    created = json.loads(
        subprocess.run(
            [*run, "create", "--name", "C", "--database", url], check=True, capture_output=True, text=True
        ).stdout
    )
    out = subprocess.run(
        [*run, "delete-key", "--access-key", created["accessKey"], "--database", url],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and json.loads(out.stdout) == {
        "accessKey": created["accessKey"],
        "deleted": True,
    }
    again = subprocess.run(
        [*run, "delete-key", "--access-key", created["accessKey"], "--database", url],
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1 and json.loads(again.stdout)["deleted"] is False
