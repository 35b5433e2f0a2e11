"""Idempotency-Key on POST, PUT and PATCH (SPEC section 7), on both backends."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import httpx
import pytest

from channel_users.app import create_app
from channel_users.errors import Conflict
from channel_users.idempotency import fingerprint_of, user_answer
from channel_users.ids import now_ms
from channel_users.store import Credentials, Store, open_store
from channel_users.store.base import KEY_LEASE_MS, KEY_TTL_MS, PURGE_EVERY, KeyUse
from channel_users.users import apply_changes
from channel_users.validation import user_changes

from .conftest import auth_headers

USERS = "/open/v5/users"
JSON_TYPE = {"content-type": "application/json"}


def _key(value: str) -> dict[str, str]:
    return {"idempotency-key": value}


async def _lead(api: httpx.AsyncClient) -> str:
    r = await api.post(USERS, json={"profile": {"name": "Kim"}})
    assert r.status_code == 200, r.text
    user_id: str = r.json()["user"]["id"]
    return user_id


async def _count_keys(database_url: str) -> int:
    if database_url.startswith("sqlite:///"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            count: int = conn.execute("SELECT count(*) FROM idempotency_keys").fetchone()[0]
            return count
        finally:
            conn.close()
    pg = await asyncpg.connect(database_url)
    try:
        result: int = await pg.fetchval("SELECT count(*) FROM idempotency_keys")
        return result
    finally:
        await pg.close()


async def test_retry_with_same_key_and_body_replays_first_answer(api: httpx.AsyncClient) -> None:
    user_id = await _lead(api)
    body = b'{"profile": {"visits": 1}}'
    first = await api.patch(f"{USERS}/{user_id}", content=body, headers={**JSON_TYPE, **_key("k1")})
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    again = await api.patch(f"{USERS}/{user_id}", content=body, headers={**JSON_TYPE, **_key("k1")})
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["etag"] == first.headers["etag"] == '"2"'
    assert again.headers["idempotent-replayed"] == "true"
    assert (await api.get(f"{USERS}/{user_id}")).json()["user"]["version"] == 2


async def test_create_lead_with_key_creates_one_user(api: httpx.AsyncClient) -> None:
    answers = [
        await api.post(USERS, json={"profile": {"name": "Once"}}, headers=_key("lead-1")) for _ in range(3)
    ]
    ids = {r.json()["user"]["id"] for r in answers}
    assert len(ids) == 1 and [r.status_code for r in answers] == [200, 200, 200]


async def test_same_key_other_body_is_422(api: httpx.AsyncClient) -> None:
    user_id = await _lead(api)
    await api.patch(f"{USERS}/{user_id}", json={"profile": {"a": 1}}, headers=_key("k"))
    r = await api.patch(f"{USERS}/{user_id}", json={"profile": {"a": 2}}, headers=_key("k"))
    assert r.status_code == 422
    assert r.json() == {
        "type": "unprocessable_entity",
        "status": 422,
        "errors": [
            {"message": "this Idempotency-Key was used for a different request", "field": "Idempotency-Key"}
        ],
    }
    assert (await api.get(f"{USERS}/{user_id}")).json()["user"]["profile"]["a"] == 1


async def test_same_key_other_path_or_method_is_422(api: httpx.AsyncClient) -> None:
    user_id = await _lead(api)
    await api.post(f"{USERS}/{user_id}/touch", headers=_key("t"))
    assert (await api.post(f"{USERS}/{user_id}/block", headers=_key("t"))).status_code == 422
    assert (await api.put(f"{USERS}/@x", json={}, headers=_key("t"))).status_code == 422


async def test_key_while_first_request_is_running_is_409(
    api: httpx.AsyncClient, store: Store, channel: Credentials
) -> None:
    user_id = await _lead(api)
    body = b'{"tags":["a"]}'
    path = f"{USERS}/{user_id}".encode()
    fp = fingerprint_of("PATCH", path, b"", {"content-type": "application/json"}, body)
    claim = await store.claim_key(channel.channel_id, "busy", fp, "other-token", now_ms())
    assert claim.state == "claimed"
    r = await api.patch(f"{USERS}/{user_id}", content=body, headers={**JSON_TYPE, **_key("busy")})
    assert r.status_code == 409
    assert r.json()["errors"] == [
        {
            "message": "a request with this Idempotency-Key is still running; retry later",
            "field": "Idempotency-Key",
        }
    ]
    assert (await api.get(f"{USERS}/{user_id}")).json()["user"]["version"] == 1


async def test_abandoned_claim_is_taken_over_and_its_late_write_rolls_back(
    api: httpx.AsyncClient, store: Store, channel: Credentials
) -> None:
    """A request that died holding a key (a killed process) blocks retries only for the lease; a
    retry then runs, and if the first request was merely slow, its write cannot commit."""
    user_id = await _lead(api)
    body = b'{"tags":["b"]}'
    fp = fingerprint_of(
        "PATCH", f"{USERS}/{user_id}".encode(), b"", {"content-type": "application/json"}, body
    )
    stale = now_ms() - KEY_LEASE_MS - 1
    assert (await store.claim_key(channel.channel_id, "slow", fp, "first", stale)).state == "claimed"
    r = await api.patch(f"{USERS}/{user_id}", content=body, headers={**JSON_TYPE, **_key("slow")})
    assert r.status_code == 200 and r.json()["user"]["version"] == 2
    late = KeyUse(channel.channel_id, "slow", "first", user_answer)
    changes = user_changes({"tags": ["late"]})
    with pytest.raises(Conflict):
        await store.update_user(
            channel.channel_id, user_id, lambda u: apply_changes(u, changes, now_ms()), late
        )
    user = (await api.get(f"{USERS}/{user_id}")).json()["user"]
    assert user["tags"] == ["b"] and user["version"] == 2


async def test_keys_expire_after_24_hours(api: httpx.AsyncClient, store: Store, channel: Credentials) -> None:
    user_id = await _lead(api)
    old = now_ms() - KEY_TTL_MS - 1
    claim = await store.claim_key(channel.channel_id, "old", b"x" * 32, "t", old)
    assert claim.state == "claimed"
    r = await api.patch(f"{USERS}/{user_id}", json={"tags": ["c"]}, headers=_key("old"))
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers


async def test_error_answers_are_replayed_too(api: httpx.AsyncClient) -> None:
    user_id = await _lead(api)
    bad = {"profile": {"1bad": 1}}
    first = await api.patch(f"{USERS}/{user_id}", json=bad, headers=_key("e"))
    assert first.status_code == 400
    again = await api.patch(f"{USERS}/{user_id}", json=bad, headers=_key("e"))
    assert (again.status_code, again.content) == (400, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    stale = await api.patch(f"{USERS}/{user_id}", json={"tags": []}, headers={**_key("p"), "if-match": '"9"'})
    assert stale.status_code == 412
    replayed = await api.patch(
        f"{USERS}/{user_id}", json={"tags": []}, headers={**_key("p"), "if-match": '"9"'}
    )
    assert (replayed.status_code, replayed.headers["etag"]) == (412, '"1"')


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_malformed_key_is_400(api: httpx.AsyncClient, key: str) -> None:
    r = await api.post(
        USERS, json={"profile": {"name": "K"}}, headers={"idempotency-key": key.encode("utf-8")}
    )  # type: ignore[dict-item]
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"message": "must be 1 to 255 printable ASCII characters", "field": "Idempotency-Key"}
    ]


async def test_keys_belong_to_one_channel(api: httpx.AsyncClient, other_api: httpx.AsyncClient) -> None:
    mine = await api.post(USERS, json={"profile": {"name": "Mine"}}, headers=_key("shared"))
    theirs = await other_api.post(USERS, json={"profile": {"name": "Mine"}}, headers=_key("shared"))
    assert theirs.status_code == 200 and "idempotent-replayed" not in theirs.headers
    assert theirs.json()["user"]["id"] != mine.json()["user"]["id"]
    assert theirs.json()["user"]["channelId"] != mine.json()["user"]["channelId"]


async def test_key_holds_across_processes(
    database_url: str, api: httpx.AsyncClient, channel: Credentials
) -> None:
    """A second store and app on the same database (as a second server process) replays the answer."""
    first = await api.put(f"{USERS}/@cross", json={"profile": {"n": 1}}, headers=_key("x"))
    second_store = open_store(database_url)
    await second_store.open()
    try:
        transport = httpx.ASGITransport(app=create_app(second_store))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=auth_headers(channel)
        ) as other:
            again = await other.put(f"{USERS}/@cross", json={"profile": {"n": 1}}, headers=_key("x"))
    finally:
        await second_store.close()
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"


async def test_concurrent_retries_apply_once(api: httpx.AsyncClient) -> None:
    user_id = await _lead(api)
    answers = await asyncio.gather(
        *(api.post(f"{USERS}/{user_id}/touch", headers=_key("touch-once")) for _ in range(10))
    )
    assert {r.status_code for r in answers} <= {200, 409}
    assert (await api.get(f"{USERS}/{user_id}")).json()["user"]["sessionsCount"] == 1
    ok = [r for r in answers if r.status_code == 200]
    assert ok and all(r.content == ok[0].content for r in ok)


async def test_get_and_delete_ignore_the_key(api: httpx.AsyncClient) -> None:
    user_id = await _lead(api)
    r = await api.get(f"{USERS}/{user_id}", headers=_key("g"))
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert (await api.delete(f"{USERS}/{user_id}", headers=_key("g"))).status_code == 200
    assert (await api.delete(f"{USERS}/{user_id}", headers=_key("g"))).status_code == 404


async def test_expired_keys_are_purged_lazily(store: Store, channel: Credentials, database_url: str) -> None:
    old = now_ms() - KEY_TTL_MS - 1
    for i in range(5):
        await store.claim_key(channel.channel_id, f"old-{i}", b"f", "t", old)
    now = now_ms()
    await asyncio.gather(
        *(store.claim_key(channel.channel_id, f"new-{i}", b"f", "t", now) for i in range(PURGE_EVERY))
    )
    assert await _count_keys(database_url) == PURGE_EVERY
