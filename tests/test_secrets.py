"""Secrets are stored hashed: a dump of every table holds no access secret in any form."""

from __future__ import annotations

import hashlib

import httpx

from channel_users.store import Credentials, Store
from channel_users.store.base import hash_secret

from .dbutil import fetch_all


async def _tables(database_url: str) -> list[str]:
    if database_url.startswith("sqlite:///"):
        rows = await fetch_all(database_url, "SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = await fetch_all(database_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return [row[0] for row in rows]


def _forms(secret: str) -> list[bytes]:
    return [secret.encode(), secret.upper().encode(), bytes.fromhex(secret), secret.encode().hex().encode()]


async def test_no_secret_in_clear_anywhere_in_the_database(
    api: httpx.AsyncClient, store: Store, channel: Credentials, other_channel: Credentials, database_url: str
) -> None:
    # traffic that writes every kind of row, idempotency records included
    await api.put("/open/v5/users/@m", json={"profile": {"name": "M"}}, headers={"idempotency-key": "s1"})
    await api.post("/open/v5/users", json={"profile": {"name": "L"}}, headers={"idempotency-key": "s2"})
    extra = await store.create_key(channel.channel_id, 1)
    secrets = [channel.access_secret, other_channel.access_secret, extra.access_secret]
    tables = await _tables(database_url)
    assert {"channels", "access_keys", "users", "idempotency_keys"} <= set(tables)
    dump = b""
    for table in tables:
        for row in await fetch_all(database_url, f'SELECT * FROM "{table}"'):
            dump += b"\0".join(
                bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row
            )
    assert channel.access_key.encode() in dump  # the dump does see the key pairs' rows
    for secret in secrets:
        for form in _forms(secret):
            assert form not in dump, "a secret is stored in clear"
    stored = await fetch_all(
        database_url, f"SELECT secret_hash FROM access_keys WHERE access_key = '{channel.access_key}'"
    )
    assert (
        bytes(stored[0][0])
        == hash_secret(channel.access_secret)
        == hashlib.sha256(channel.access_secret.encode()).digest()
    )


async def test_wrong_secret_sharing_a_prefix_is_refused(api: httpx.AsyncClient, channel: Credentials) -> None:
    near = channel.access_secret[:-1] + ("0" if channel.access_secret[-1] != "0" else "1")
    r = await api.get("/open/v5/channel", headers={"x-access-secret": near})
    assert r.status_code == 401
    r = await api.get("/open/v5/channel", headers={"x-access-secret": channel.access_secret + "0"})
    assert r.status_code == 401
