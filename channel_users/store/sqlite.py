"""SQLite store: the embedded default. WAL mode, synchronous=FULL, one group-committing writer.

Reads run inline on the event loop on their own connection (WAL lets them proceed beside the
writer); writes go through `Writer`, which serialises them within and across processes.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import msgspec

from ..errors import Conflict
from ..ids import now_ms
from ..users import User
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
from .sqlite_extras import SQLiteExtras, enqueue
from .sqlite_writer import Writer

BUSY_TIMEOUT_MS = 30_000

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _statements(sql: str) -> list[str]:
    """The statements of a migration file (Python's sqlite3 runs one at a time in a transaction)."""
    code = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [statement for statement in code.split(";") if statement.strip()]


def _select(conn: sqlite3.Connection, where: str, *args: str) -> tuple[str, str, int] | None:
    row: tuple[str, str, int] | None = conn.execute(
        f"SELECT id, doc, version FROM users WHERE {where}", args
    ).fetchone()
    return row


def _write_update(
    conn: sqlite3.Connection, row: tuple[str, str, int], change: UserChange, outbox: OutboxSignal
) -> Stored:
    user_id, doc, version = row
    before = _decode(doc)
    after = change(before)
    if after is None:
        return Stored(doc.encode(), version)
    new_doc = _encode(after)
    conn.execute(
        "UPDATE users SET doc = ?, version = ?, updated_at = ? WHERE id = ?",
        (new_doc.decode(), after["version"], after["updatedAt"], user_id),
    )
    enqueue(conn, outbox, before, after, new_doc, now_ms())
    return Stored(new_doc, after["version"], True)


def _write_insert(conn: sqlite3.Connection, channel_id: str, user: User, outbox: OutboxSignal) -> Stored:
    doc = _encode(user)
    conn.execute(
        "INSERT INTO users (id, channel_id, member_id, version, updated_at, doc) VALUES (?, ?, ?, ?, ?, ?)",
        (
            user["id"],
            channel_id,
            user.get("memberId"),
            user["version"],
            user["updatedAt"],
            doc.decode(),
        ),
    )
    enqueue(conn, outbox, None, user, doc, now_ms())
    return Stored(doc, user["version"], True)


TAKEN_OVER = "the Idempotency-Key was taken over by a retry of this request"


def _finish(conn: sqlite3.Connection, use: KeyUse, answer: Answer) -> bool:
    cursor = conn.execute(
        "UPDATE idempotency_keys SET state = 'done', status = ?, headers = ?, body = ?"
        " WHERE channel_id = ? AND key = ? AND token = ? AND state = 'running'",
        (answer.status, json.dumps(answer.headers), answer.body, use.channel_id, use.key, use.token),
    )
    return cursor.rowcount == 1


def _recorded(conn: sqlite3.Connection, use: KeyUse | None, stored: Stored | None) -> Stored | None:
    """Records the key's answer beside the change; raises Conflict (rolling both back) if it cannot."""
    if use is not None and stored is not None:
        if not _finish(conn, use, use.answer(stored)):
            raise Conflict(TAKEN_OVER)
        use.recorded = True
    return stored


def _delete(
    conn: sqlite3.Connection,
    where: str,
    args: tuple[str, ...],
    check: VersionCheck | None,
    outbox: OutboxSignal,
) -> bool:
    """Deletes the user and its events, and queues its `deleted` deliveries, in one transaction."""
    row = conn.execute(f"SELECT id, doc, version FROM users WHERE {where}", args).fetchone()
    if row is None:
        return False
    if check is not None:
        check(row[2])
    conn.execute("DELETE FROM users WHERE id = ?", (row[0],))
    conn.execute("DELETE FROM events WHERE user_id = ?", (row[0],))
    enqueue(conn, outbox, _decode(row[1]), None, row[1].encode(), now_ms())
    return True


class SQLiteStore(SQLiteExtras):
    def __init__(self, path: str) -> None:
        self.path = path
        self._reader: sqlite3.Connection | None = None
        self._writer: Writer | None = None
        self.outbox = OutboxSignal()
        self._claims = 0

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._reader = _connect(self.path)
        self._writer = Writer(lambda: _connect(self.path))
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def reader(self) -> sqlite3.Connection:
        assert self._reader is not None, "store is not open"
        return self._reader

    @property
    def writer(self) -> Writer:
        assert self._writer is not None, "store is not open"
        return self._writer

    async def ready(self) -> bool:
        try:
            applied = {name for (name,) in self.reader.execute("SELECT name FROM schema_migrations")}
        except sqlite3.Error:
            return False
        return applied >= migration_names("sqlite")

    async def migrate(self) -> list[str]:
        conn = _connect(self.path)
        applied: list[str] = []
        try:
            conn.execute("BEGIN IMMEDIATE")  # one process migrates at a time
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"
            )
            done = {name for (name,) in conn.execute("SELECT name FROM schema_migrations")}
            for name, sql in migrations("sqlite"):
                if name in done:
                    continue
                for statement in _statements(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, now_ms()))
                applied.append(name)
            conn.execute("COMMIT")
        finally:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            conn.close()
        return applied

    async def create_channel(self, name: str, now: int) -> Credentials:
        access_key, secret = new_key_pair()

        def write(conn: sqlite3.Connection) -> Credentials:
            cursor = conn.execute("INSERT INTO channels (name, created_at) VALUES (?, ?)", (name, now))
            channel_id = str(cursor.lastrowid)
            conn.execute(
                "INSERT INTO access_keys VALUES (?, ?, ?, ?)",
                (access_key, channel_id, hash_secret(secret), now),
            )
            return Credentials(channel_id, access_key, secret)

        return await self.writer.run(write)

    async def count_channels(self) -> int:
        count: int = self.reader.execute("SELECT count(*) FROM channels").fetchone()[0]
        return count

    async def get_channel(self, channel_id: str) -> Channel | None:
        row = self.reader.execute(
            "SELECT id, name, created_at FROM channels WHERE id = ?", (channel_id,)
        ).fetchone()
        return Channel(str(row[0]), row[1], row[2]) if row else None

    async def find_key(self, access_key: str) -> tuple[str, bytes] | None:
        row = self.reader.execute(
            "SELECT channel_id, secret_hash FROM access_keys WHERE access_key = ?", (access_key,)
        ).fetchone()
        return (row[0], row[1]) if row else None

    async def create_key(self, channel_id: str, now: int) -> Credentials:
        access_key, secret = new_key_pair()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO access_keys VALUES (?, ?, ?, ?)",
                (access_key, channel_id, hash_secret(secret), now),
            )

        await self.writer.run(write)
        return Credentials(channel_id, access_key, secret)

    async def delete_key(self, access_key: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            sql = "DELETE FROM access_keys WHERE access_key = ?"
            return conn.execute(sql, (access_key,)).rowcount > 0

        return await self.writer.run(write)

    async def get_user(self, channel_id: str, user_id: str) -> Stored | None:
        row = _select(self.reader, "id = ? AND channel_id = ?", user_id, channel_id)
        return Stored(row[1].encode(), row[2]) if row else None

    async def get_member(self, channel_id: str, member_id: str) -> Stored | None:
        row = _select(self.reader, "channel_id = ? AND member_id = ?", channel_id, member_id)
        return Stored(row[1].encode(), row[2]) if row else None

    async def insert_user(self, channel_id: str, user: User, key: KeyUse | None = None) -> Stored:
        def write(conn: sqlite3.Connection) -> Stored:
            stored = _recorded(conn, key, _write_insert(conn, channel_id, user, self.outbox))
            assert stored is not None
            return stored

        stored = await self.writer.run(write)
        self.outbox.flush()
        return stored

    async def update_user(
        self, channel_id: str, user_id: str, change: UserChange, key: KeyUse | None = None
    ) -> Stored | None:
        def write(conn: sqlite3.Connection) -> Stored | None:
            row = _select(conn, "id = ? AND channel_id = ?", user_id, channel_id)
            return _recorded(conn, key, _write_update(conn, row, change, self.outbox) if row else None)

        stored = await self.writer.run(write)
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
        def write(conn: sqlite3.Connection) -> Stored:
            row = _select(conn, "channel_id = ? AND member_id = ?", channel_id, member_id)
            if row:
                stored = _write_update(conn, row, change, self.outbox)
            else:
                stored = _write_insert(conn, channel_id, create(), self.outbox)
            _recorded(conn, key, stored)
            return stored

        stored = await self.writer.run(write)
        self.outbox.flush()
        return stored

    async def delete_user(self, channel_id: str, user_id: str, check: VersionCheck | None = None) -> bool:
        return await self._delete("id = ? AND channel_id = ?", (user_id, channel_id), check)

    async def delete_member(self, channel_id: str, member_id: str, check: VersionCheck | None = None) -> bool:
        return await self._delete("channel_id = ? AND member_id = ?", (channel_id, member_id), check)

    async def _delete(self, where: str, args: tuple[str, ...], check: VersionCheck | None) -> bool:
        found = await self.writer.run(lambda conn: _delete(conn, where, args, check, self.outbox))
        self.outbox.flush()
        return found

    async def claim_key(self, channel_id: str, key: str, fingerprint: bytes, token: str, now: int) -> Claim:
        self._claims += 1
        purge = self._claims % PURGE_EVERY == 0

        def write(conn: sqlite3.Connection) -> Claim:
            if purge:
                conn.execute(
                    "DELETE FROM idempotency_keys WHERE rowid IN (SELECT rowid FROM idempotency_keys"
                    " WHERE created_at < ? LIMIT ?)",
                    (now - KEY_TTL_MS, PURGE_BATCH),
                )
            row = conn.execute(
                "SELECT fingerprint, state, status, headers, body, created_at FROM idempotency_keys"
                " WHERE channel_id = ? AND key = ?",
                (channel_id, key),
            ).fetchone()
            live = row is not None and row[5] >= now - KEY_TTL_MS
            abandoned = live and row[1] == "running" and row[5] < now - KEY_LEASE_MS
            if live and not abandoned:
                return existing_claim(fingerprint, row)
            conn.execute(
                "INSERT OR REPLACE INTO idempotency_keys"
                " (channel_id, key, fingerprint, token, state, created_at)"
                " VALUES (?, ?, ?, ?, 'running', ?)",
                (channel_id, key, fingerprint, token, now),
            )
            return Claim("claimed")

        return await self.writer.run(write)

    async def finish_key(self, use: KeyUse, answer: Answer) -> bool:
        return await self.writer.run(lambda conn: _finish(conn, use, answer))

    async def release_key(self, use: KeyUse) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM idempotency_keys WHERE channel_id = ? AND key = ? AND token = ?"
                " AND state = 'running'",
                (use.channel_id, use.key, use.token),
            )

        await self.writer.run(write)
