"""SQLite store: the embedded default. WAL mode, synchronous=FULL, one group-committing writer.

Reads run inline on the event loop on their own connection (WAL lets them proceed beside the
writer); writes go through `Writer`, which serialises them within and across processes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec

from ..ids import now_ms
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
    conn: sqlite3.Connection, row: tuple[str, str, int], change: UserChange
) -> Stored:
    user_id, doc, version = row
    after = change(_decode(doc))
    if after is None:
        return Stored(doc.encode(), version)
    new_doc = _encode(after)
    conn.execute(
        "UPDATE users SET doc = ?, version = ?, updated_at = ? WHERE id = ?",
        (new_doc.decode(), after["version"], after["updatedAt"], user_id),
    )
    return Stored(new_doc, after["version"], True)


def _write_insert(conn: sqlite3.Connection, channel_id: str, user: User) -> Stored:
    doc = _encode(user)
    conn.execute(
        "INSERT INTO users (id, channel_id, member_id, version, updated_at, doc)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            user["id"],
            channel_id,
            user.get("memberId"),
            user["version"],
            user["updatedAt"],
            doc.decode(),
        ),
    )
    return Stored(doc, user["version"], True)


class SQLiteStore:
    def __init__(self, path: str) -> None:
        self.path = path
        self._reader: sqlite3.Connection | None = None
        self._writer: Writer | None = None

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
            cursor = conn.execute(
                "INSERT INTO channels (name, created_at) VALUES (?, ?)", (name, now)
            )
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

    async def get_user(self, channel_id: str, user_id: str) -> Stored | None:
        row = _select(self.reader, "id = ? AND channel_id = ?", user_id, channel_id)
        return Stored(row[1].encode(), row[2]) if row else None

    async def get_member(self, channel_id: str, member_id: str) -> Stored | None:
        row = _select(self.reader, "channel_id = ? AND member_id = ?", channel_id, member_id)
        return Stored(row[1].encode(), row[2]) if row else None

    async def insert_user(self, channel_id: str, user: User) -> Stored:
        return await self.writer.run(lambda conn: _write_insert(conn, channel_id, user))

    async def update_user(self, channel_id: str, user_id: str, change: UserChange) -> Stored | None:
        def write(conn: sqlite3.Connection) -> Stored | None:
            row = _select(conn, "id = ? AND channel_id = ?", user_id, channel_id)
            return _write_update(conn, row, change) if row else None

        return await self.writer.run(write)

    async def upsert_member(
        self, channel_id: str, member_id: str, change: UserChange, create: UserFactory
    ) -> Stored:
        def write(conn: sqlite3.Connection) -> Stored:
            row = _select(conn, "channel_id = ? AND member_id = ?", channel_id, member_id)
            if row:
                return _write_update(conn, row, change)
            return _write_insert(conn, channel_id, create())

        return await self.writer.run(write)

    async def delete_user(self, channel_id: str, user_id: str) -> bool:
        return await self._delete("id = ? AND channel_id = ?", user_id, channel_id)

    async def delete_member(self, channel_id: str, member_id: str) -> bool:
        return await self._delete("channel_id = ? AND member_id = ?", channel_id, member_id)

    async def _delete(self, where: str, *args: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            return conn.execute(f"DELETE FROM users WHERE {where}", args).rowcount > 0

        return await self.writer.run(write)
