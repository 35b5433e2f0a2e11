"""PostgreSQL store (asyncpg) for production: several server processes on one database.

A write takes the user's row lock (`SELECT ... FOR UPDATE`), applies the rules in Python, and writes
the result in the same transaction, so concurrent PATCHes of one user serialise and none is lost,
whichever process serves them. The PATCH rules stay in one place (`users.py`) for both backends.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import asyncpg
import msgspec

from ..errors import Conflict
from ..ids import now_ms
from ..users import User
from ..webhooks import fired_scopes
from .base import (
    KEY_LEASE_MS,
    KEY_TTL_MS,
    PURGE_BATCH,
    PURGE_EVERY,
    Answer,
    Channel,
    Claim,
    Credentials,
    KeyUse,
    Stored,
    UserChange,
    UserFactory,
    VersionCheck,
    existing_claim,
    hash_secret,
    migration_names,
    migrations,
    new_key_pair,
)
from .outbox import OutboxSignal
from .postgres_extras import INSERT_WITH_OUTBOX, PostgresExtras, enqueue

MIGRATION_LOCK = 0x6368616E6E656C  # pg_advisory lock id, so that one process migrates at a time

_encode = msgspec.json.encode
_decode = msgspec.json.decode

_SELECT = "SELECT id, doc, version FROM users WHERE "
_FOR_UPDATE = " FOR UPDATE"


async def _no_reset(conn: asyncpg.Connection) -> None:
    """Our transactions always end cleanly and we set no session state, so the pool's default
    reset query on every release (measured at up to a third of throughput) is skipped."""


async def _write_update(
    conn: asyncpg.Connection, row: asyncpg.Record, change: UserChange, outbox: OutboxSignal
) -> Stored:
    before = _decode(row["doc"])
    after = change(before)
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
    await enqueue(conn, outbox, before, after, doc)
    return Stored(doc, after["version"], True)


# The optimistic write: one statement updates the user if it is still at the version read, and
# inserts the change's outbox rows (as INSERT_WITH_OUTBOX does for a new user).
UPDATE_WITH_OUTBOX = """
WITH u AS (
    UPDATE users SET doc = $3, version = $4, updated_at = $5
    WHERE id = $1 AND version = $2 RETURNING id, channel_id
), q AS (
    INSERT INTO webhook_deliveries (webhook_id, user_id, scope, entity, due_at)
    SELECT w.id, u.id, s.scope, $3, $7
    FROM u CROSS JOIN unnest($6::text[]) WITH ORDINALITY AS s (scope, n)
    JOIN webhooks w ON w.channel_id = u.channel_id AND NOT w.blocked AND w.scopes::jsonb ? s.scope
    ORDER BY s.n, w.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM u) AS updated, (SELECT count(*) FROM q) AS queued
"""
RACED = Stored(b"", -1)  # the optimistic write lost to a concurrent one


async def _write_insert(
    conn: asyncpg.Connection, channel_id: str, user: User, outbox: OutboxSignal
) -> Stored | None:
    """Inserts the user; None when a concurrent request created the same member first. Run it in a
    transaction: the outbox rows of the creation go in the same one."""
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
    if status != "INSERT 0 1":
        return None
    await enqueue(conn, outbox, None, user, doc)
    return Stored(doc, user["version"], True)


TAKEN_OVER = "the Idempotency-Key was taken over by a retry of this request"

_FINISH = (
    "UPDATE idempotency_keys SET state = 'done', status = $4, headers = $5, body = $6"
    " WHERE channel_id = $1 AND key = $2 AND token = $3 AND state = 'running'"
)
# Claims a key that is new, expired, or abandoned by a request that died; returns nothing otherwise.
_CLAIM = """
INSERT INTO idempotency_keys AS k (channel_id, key, fingerprint, token, state, created_at)
VALUES ($1, $2, $3, $4, 'running', $5)
ON CONFLICT (channel_id, key) DO UPDATE
SET fingerprint = EXCLUDED.fingerprint, token = EXCLUDED.token, state = 'running',
    status = NULL, headers = NULL, body = NULL, created_at = EXCLUDED.created_at
WHERE k.created_at < $6 OR (k.state = 'running' AND k.created_at < $7)
RETURNING token
"""


async def _finish(conn: asyncpg.Connection, use: KeyUse, answer: Answer) -> bool:
    status = await conn.execute(
        _FINISH,
        use.channel_id,
        use.key,
        use.token,
        answer.status,
        json.dumps(answer.headers),
        answer.body,
    )
    return bool(status == "UPDATE 1")


async def _recorded(conn: asyncpg.Connection, use: KeyUse | None, stored: Stored) -> Stored:
    """Records the key's answer beside the change; raises Conflict (rolling both back) if it cannot."""
    if use is not None:
        if not await _finish(conn, use, use.answer(stored)):
            raise Conflict(TAKEN_OVER)
        use.recorded = True
    return stored


class PostgresStore(PostgresExtras):
    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 16) -> None:
        self.url = url
        self._sizes = (min_size, max_size)
        self._pool: asyncpg.Pool | None = None
        self.outbox = OutboxSignal()
        self._claims = 0

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

    async def ready(self) -> bool:
        try:
            rows = await self.pool.fetch("SELECT name FROM schema_migrations")
        except (asyncpg.PostgresError, OSError):
            return False
        return {row["name"] for row in rows} >= migration_names("postgres")

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

    async def create_key(self, channel_id: str, now: int) -> Credentials:
        access_key, secret = new_key_pair()
        await self.pool.execute(
            "INSERT INTO access_keys VALUES ($1, $2, $3, $4)",
            access_key,
            channel_id,
            hash_secret(secret),
            now,
        )
        return Credentials(channel_id, access_key, secret)

    async def delete_key(self, access_key: str) -> bool:
        status = await self.pool.execute("DELETE FROM access_keys WHERE access_key = $1", access_key)
        return bool(status != "DELETE 0")

    async def _get(self, where: str, *args: Any) -> Stored | None:
        row = await self.pool.fetchrow(_SELECT + where, *args)
        return Stored(row["doc"].encode(), row["version"]) if row else None

    async def get_user(self, channel_id: str, user_id: str) -> Stored | None:
        return await self._get("id = $1 AND channel_id = $2", user_id, channel_id)

    async def get_member(self, channel_id: str, member_id: str) -> Stored | None:
        return await self._get("channel_id = $1 AND member_id = $2", channel_id, member_id)

    async def insert_user(self, channel_id: str, user: User, key: KeyUse | None = None) -> Stored:
        # One statement (so one round trip, and atomic) inserts the user and its outbox rows; with an
        # Idempotency-Key, the key's answer is recorded in the same transaction.
        doc = _encode(user)
        async with self.pool.acquire() as conn, conn.transaction() if key else contextlib.nullcontext():
            row = await conn.fetchrow(
                INSERT_WITH_OUTBOX,
                user["id"],
                channel_id,
                user.get("memberId"),
                user["version"],
                user["updatedAt"],
                doc.decode(),
                fired_scopes(None, user),
                now_ms(),
            )
            assert row["inserted"] == 1, "a new user id collided"
            stored = Stored(doc, user["version"], True)
            if key is not None:
                await _recorded(conn, key, stored)
        self.outbox.pending += row["queued"]
        self.outbox.flush()
        return stored

    async def _update_optimistically(self, row: asyncpg.Record, change: UserChange) -> Stored:
        """Two round trips (the read already made, one statement) instead of a locked transaction's
        four; RACED when another write changed the user since `row` was read."""
        before = _decode(row["doc"])
        after = change(before)
        if after is None:
            return Stored(row["doc"].encode(), row["version"])
        doc = _encode(after)
        result = await self.pool.fetchrow(
            UPDATE_WITH_OUTBOX,
            row["id"],
            row["version"],
            doc.decode(),
            after["version"],
            after["updatedAt"],
            fired_scopes(before, after),
            now_ms(),
        )
        if result["updated"] == 0:
            return RACED
        self.outbox.pending += result["queued"]
        self.outbox.flush()
        return Stored(doc, after["version"], True)

    async def update_user(
        self, channel_id: str, user_id: str, change: UserChange, key: KeyUse | None = None
    ) -> Stored | None:
        if key is None:  # a write that records an Idempotency-Key answer needs the transaction
            row = await self.pool.fetchrow(_SELECT + "id = $1 AND channel_id = $2", user_id, channel_id)
            if row is None:
                return None
            optimistic = await self._update_optimistically(row, change)
            if optimistic is not RACED:
                return optimistic
        # Contended (or keyed): lock the row, so that retries cannot starve.
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                _SELECT + "id = $1 AND channel_id = $2" + _FOR_UPDATE, user_id, channel_id
            )
            stored = await _write_update(conn, row, change, self.outbox) if row else None
            if stored is not None:
                await _recorded(conn, key, stored)
        self.outbox.flush()
        return stored

    async def upsert_member(
        self,
        channel_id: str,
        member_id: str,
        change: UserChange,
        create: UserFactory,
        key: KeyUse | None = None,
    ) -> Stored:
        if key is None:
            row = await self.pool.fetchrow(
                _SELECT + "channel_id = $1 AND member_id = $2", channel_id, member_id
            )
            if row is not None:
                optimistic = await self._update_optimistically(row, change)
                if optimistic is not RACED:
                    return optimistic
        async with self.pool.acquire() as conn:
            while True:  # at most twice: a lost insert race turns into an update
                stored: Stored | None
                async with conn.transaction():
                    row = await conn.fetchrow(
                        _SELECT + "channel_id = $1 AND member_id = $2" + _FOR_UPDATE,
                        channel_id,
                        member_id,
                    )
                    if row:
                        stored = await _write_update(conn, row, change, self.outbox)
                    else:
                        stored = await _write_insert(conn, channel_id, create(), self.outbox)
                    if stored is not None:
                        await _recorded(conn, key, stored)
                if stored is not None:
                    self.outbox.flush()
                    return stored

    async def delete_user(self, channel_id: str, user_id: str, check: VersionCheck | None = None) -> bool:
        return await self._delete("id = $1 AND channel_id = $2", (user_id, channel_id), check)

    async def delete_member(self, channel_id: str, member_id: str, check: VersionCheck | None = None) -> bool:
        return await self._delete("channel_id = $1 AND member_id = $2", (channel_id, member_id), check)

    async def _delete(self, where: str, args: tuple[str, str], check: VersionCheck | None) -> bool:
        """Deletes the user (its events by ON DELETE CASCADE) and enqueues its `deleted` deliveries,
        in one transaction; with `check`, only when the user's version passes it."""
        async with self.pool.acquire() as conn, conn.transaction():
            if check is not None:
                version = await conn.fetchval("SELECT version FROM users WHERE " + where + _FOR_UPDATE, *args)
                if version is None:
                    return False
                check(version)
            doc = await conn.fetchval(f"DELETE FROM users WHERE {where} RETURNING doc", *args)
            if doc is None:
                return False
            await enqueue(conn, self.outbox, _decode(doc), None, doc.encode())
        self.outbox.flush()
        return True

    async def claim_key(self, channel_id: str, key: str, fingerprint: bytes, token: str, now: int) -> Claim:
        self._claims += 1
        purge = self._claims % PURGE_EVERY == 0
        async with self.pool.acquire() as conn:
            if purge:
                await conn.execute(
                    "DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(SELECT ctid FROM"
                    " idempotency_keys WHERE created_at < $1 LIMIT $2))",
                    now - KEY_TTL_MS,
                    PURGE_BATCH,
                )
            while True:  # a key purged between the two statements is claimed on the next turn
                claimed = await conn.fetchval(
                    _CLAIM, channel_id, key, fingerprint, token, now,
                    now - KEY_TTL_MS, now - KEY_LEASE_MS,
                )  # fmt: skip
                if claimed is not None:
                    return Claim("claimed")
                row = await conn.fetchrow(
                    "SELECT fingerprint, state, status, headers, body FROM idempotency_keys"
                    " WHERE channel_id = $1 AND key = $2",
                    channel_id,
                    key,
                )
                if row is not None:
                    return existing_claim(fingerprint, row)

    async def finish_key(self, use: KeyUse, answer: Answer) -> bool:
        async with self.pool.acquire() as conn:
            return await _finish(conn, use, answer)

    async def release_key(self, use: KeyUse) -> None:
        await self.pool.execute(
            "DELETE FROM idempotency_keys WHERE channel_id = $1 AND key = $2 AND token = $3"
            " AND state = 'running'",
            use.channel_id,
            use.key,
            use.token,
        )
