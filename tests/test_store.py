"""One suite for both stores (the `store` fixture runs each test on SQLite and on PostgreSQL)."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from channel_users import users
from channel_users.errors import BadRequest
from channel_users.ids import now_ms
from channel_users.store import Credentials, Store
from channel_users.store.base import hash_secret
from channel_users.validation import user_changes


def decode(doc: bytes) -> users.User:
    user: users.User = msgspec.json.decode(doc)
    return user


async def test_store_create_channel_and_find_its_key(store: Store) -> None:
    credentials = await store.create_channel("Shop", now_ms())
    assert credentials.channel_id.isdigit()
    assert await store.find_key(credentials.access_key) == (
        credentials.channel_id, hash_secret(credentials.access_secret),
    )  # fmt: skip
    assert await store.find_key("nope") is None
    channel = await store.get_channel(credentials.channel_id)
    assert channel is not None and channel.name == "Shop"
    assert await store.count_channels() == 1


async def test_store_insert_get_and_member_lookup(store: Store, channel: Credentials) -> None:
    user = users.created_user(channel.channel_id, "m1", user_changes({"profile": {"a": 1}}), now_ms())
    stored = await store.insert_user(channel.channel_id, user)
    assert decode(stored.doc) == user and stored.version == 1 and stored.changed
    by_id = await store.get_user(channel.channel_id, user["id"])
    by_member = await store.get_member(channel.channel_id, "m1")
    assert by_id == by_member and by_id is not None and decode(by_id.doc) == user


async def test_store_users_are_scoped_to_their_channel(
    store: Store, channel: Credentials, other_channel: Credentials
) -> None:
    user = users.created_user(channel.channel_id, "m1", user_changes({}), now_ms())
    await store.insert_user(channel.channel_id, user)
    other = other_channel.channel_id
    assert await store.get_user(other, user["id"]) is None
    assert await store.get_member(other, "m1") is None
    assert await store.update_user(other, user["id"], lambda u: {**u, "version": 99}) is None
    assert await store.delete_user(other, user["id"]) is False
    assert await store.delete_member(other, "m1") is False
    assert await store.get_user(channel.channel_id, user["id"]) is not None


async def test_store_update_unchanged_keeps_version(store: Store, channel: Credentials) -> None:
    user = users.created_user(channel.channel_id, None, user_changes({"profile": {"a": 1}}), now_ms())
    await store.insert_user(channel.channel_id, user)
    stored = await store.update_user(channel.channel_id, user["id"], lambda u: None)
    assert stored is not None and not stored.changed and stored.version == 1
    assert decode(stored.doc) == user


async def test_store_failing_change_rolls_back_alone(store: Store, channel: Credentials) -> None:
    cid = channel.channel_id
    first = users.created_user(cid, None, user_changes({}), now_ms())
    second = users.created_user(cid, None, user_changes({}), now_ms())
    await store.insert_user(cid, first)
    await store.insert_user(cid, second)

    def failing(user: users.User) -> users.User:
        raise BadRequest("no")

    def bump(user: users.User) -> users.User | None:
        return users.apply_changes(user, user_changes({"profile": {"x": 1}}), now_ms())

    results = await asyncio.gather(
        store.update_user(cid, first["id"], failing),
        store.update_user(cid, second["id"], bump),
        return_exceptions=True,
    )
    assert isinstance(results[0], BadRequest)
    stored_first = await store.get_user(cid, first["id"])
    stored_second = await store.get_user(cid, second["id"])
    assert stored_first is not None and decode(stored_first.doc) == first
    assert stored_second is not None and decode(stored_second.doc)["profile"] == {"x": 1}


async def test_store_concurrent_updates_of_one_user_lose_nothing(store: Store, channel: Credentials) -> None:
    cid = channel.channel_id
    user = users.created_user(cid, None, user_changes({}), now_ms())
    await store.insert_user(cid, user)

    async def set_key(i: int) -> None:
        changes = user_changes({"profile": {f"k{i}": i}})
        await store.update_user(cid, user["id"], lambda u: users.apply_changes(u, changes, now_ms()))

    await asyncio.gather(*(set_key(i) for i in range(100)))
    stored = await store.get_user(cid, user["id"])
    assert stored is not None
    final = decode(stored.doc)
    assert final["profile"] == {f"k{i}": i for i in range(100)} and final["version"] == 101


async def test_store_upsert_creates_once_then_updates(store: Store, channel: Credentials) -> None:
    cid = channel.channel_id

    async def upsert(i: int) -> None:
        changes = user_changes({"profile": {f"k{i}": i}})
        now = now_ms()
        await store.upsert_member(
            cid, "racer",
            lambda u: users.apply_changes(u, changes, now),
            lambda: users.created_user(cid, "racer", changes, now),
        )  # fmt: skip

    await asyncio.gather(*(upsert(i) for i in range(30)))
    stored = await store.get_member(cid, "racer")
    assert stored is not None
    final = decode(stored.doc)
    assert final["profile"] == {f"k{i}": i for i in range(30)} and final["version"] == 30


async def test_store_delete_by_id_and_member(store: Store, channel: Credentials) -> None:
    cid = channel.channel_id
    a = users.created_user(cid, None, user_changes({}), now_ms())
    b = users.created_user(cid, "mb", user_changes({}), now_ms())
    await store.insert_user(cid, a)
    await store.insert_user(cid, b)
    assert await store.delete_user(cid, a["id"]) is True
    assert await store.delete_user(cid, a["id"]) is False
    assert await store.delete_member(cid, "mb") is True
    assert await store.get_member(cid, "mb") is None and await store.get_user(cid, b["id"]) is None


async def test_store_migrate_is_idempotent(store: Store) -> None:
    assert await store.migrate() == []


@pytest.mark.parametrize("name", ["Ünïcode ☃", "a" * 200])
async def test_store_channel_names_round_trip(store: Store, name: str) -> None:
    credentials = await store.create_channel(name, now_ms())
    channel = await store.get_channel(credentials.channel_id)
    assert channel is not None and channel.name == name
