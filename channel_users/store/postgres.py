"""PostgreSQL store (asyncpg) for production: several server processes on one database.

A write takes the user's row lock (`SELECT ... FOR UPDATE`), applies the rules in Python, and writes
the result in the same transaction, so concurrent PATCHes of one user serialise and none is lost,
whichever process serves them. The PATCH rules stay in one place (`users.py`) for both backends.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from ..users import User
from .base import (
    Channel,
    Credentials,
    Stored,
    UserChange,
    UserFactory,
    hash_secret,
    migrations,
    new_key_pair,
)

MIGRATION_LOCK = 0x6368616E6E656C  # pg_advisory lock id, so that one process migrates at a time

_encode = msgspec.json.encode
_decode = msgspec.json.decode

_SELECT = "SELECT id, doc, version FROM users WHERE "
_FOR_UPDATE = " FOR UPDATE"


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Our transactions always end cleanly and we set no session state, so the pool's default
    reset query on every release (measured at up to a third of throughput) is skipped."""


async def _write_update(
    conn: asyncpg.Connection, row: asyncpg.Record, change: UserChange
) -> Stored:
    after = change(_decode(row["doc"]))
    if after is None:
        return Stored(row["doc"].encode(), row["version"])
    doc = _encode(after)
    await conn.execute(
        "UPDATE users SET doc = $2, version = $3, updated_at = $4 WHERE id = $1",
        row["id"],
        doc.decode(),
        after["version"],
        after["updatedAt"],
    )
    return Stored(doc, after["version"], True)


async def _write_insert(conn: asyncpg.Connection, channel_id: str, user: User) -> Stored | None:
    """Inserts the user; None when a concurrent request created the same member first."""
    doc = _encode(user)
    status = await conn.execute(
        "INSERT INTO users (id, channel_id, member_id, version, updated_at, doc)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        user["id"],
        channel_id,
        user.get("memberId"),
        user["version"],
        user["updatedAt"],
        doc.decode(),
    )
    return Stored(doc, user["version"], True) if status == "INSERT 0 1" else None


class PostgresStore:
    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 16) -> None:
        self.url = url
        self._sizes = (min_size, max_size)
        self._pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(
            self.url, min_size=self._sizes[0], max_size=self._sizes[1], reset=_no_reset
        )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "store is not open"
        return self._pool

    async def migrate(self) -> list[str]:
        conn = await asyncpg.connect(self.url)
        applied: list[str] = []
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations"
                    " (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                done = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
                for name, sql in migrations("postgres"):
                    if name not in done:
                        await conn.execute(sql)
                        await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                        applied.append(name)
        finally:
            await conn.close()
        return applied

    async def create_channel(self, name: str, now: int) -> Credentials:
        access_key, secret = new_key_pair()
        async with self.pool.acquire() as conn, conn.transaction():
            channel_id = await conn.fetchval(
                "INSERT INTO channels (name, created_at) VALUES ($1, $2) RETURNING id", name, now
            )
            await conn.execute(
                "INSERT INTO access_keys VALUES ($1, $2, $3, $4)",
                access_key,
                str(channel_id),
                hash_secret(secret),
                now,
            )
        return Credentials(str(channel_id), access_key, secret)

    async def count_channels(self) -> int:
        count: int = await self.pool.fetchval("SELECT count(*) FROM channels")
        return count

    async def get_channel(self, channel_id: str) -> Channel | None:
        if not channel_id.isdigit():
            return None
        row = await self.pool.fetchrow(
            "SELECT id, name, created_at FROM channels WHERE id = $1", int(channel_id)
        )
        return Channel(str(row["id"]), row["name"], row["created_at"]) if row else None

    async def find_key(self, access_key: str) -> tuple[str, bytes] | None:
        row = await self.pool.fetchrow(
            "SELECT channel_id, secret_hash FROM access_keys WHERE access_key = $1", access_key
        )
        return (row["channel_id"], row["secret_hash"]) if row else None

    async def _get(self, where: str, *args: Any) -> Stored | None:
        row = await self.pool.fetchrow(_SELECT + where, *args)
        return Stored(row["doc"].encode(), row["version"]) if row else None

    async def get_user(self, channel_id: str, user_id: str) -> Stored | None:
        return await self._get("id = $1 AND channel_id = $2", user_id, channel_id)

    async def get_member(self, channel_id: str, member_id: str) -> Stored | None:
        return await self._get("channel_id = $1 AND member_id = $2", channel_id, member_id)

    async def insert_user(self, channel_id: str, user: User) -> Stored:
        async with self.pool.acquire() as conn:
            stored = await _write_insert(conn, channel_id, user)
        assert stored is not None, "a new user id collided"
        return stored

    async def update_user(self, channel_id: str, user_id: str, change: UserChange) -> Stored | None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                _SELECT + "id = $1 AND channel_id = $2" + _FOR_UPDATE, user_id, channel_id
            )
            return await _write_update(conn, row, change) if row else None

    async def upsert_member(
        self, channel_id: str, member_id: str, change: UserChange, create: UserFactory
    ) -> Stored:
        async with self.pool.acquire() as conn:
            while True:  # at most twice: a lost insert race turns into an update
                async with conn.transaction():
                    row = await conn.fetchrow(
                        _SELECT + "channel_id = $1 AND member_id = $2" + _FOR_UPDATE,
                        channel_id,
                        member_id,
                    )
                    if row:
                        return await _write_update(conn, row, change)
                    stored = await _write_insert(conn, channel_id, create())
                    if stored is not None:
                        return stored

    async def delete_user(self, channel_id: str, user_id: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM users WHERE id = $1 AND channel_id = $2", user_id, channel_id
        )
        return bool(status != "DELETE 0")

    async def delete_member(self, channel_id: str, member_id: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM users WHERE channel_id = $1 AND member_id = $2", channel_id, member_id
        )
        return bool(status != "DELETE 0")
