"""The storage interface both backends implement, and the database-URL dispatch."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, NamedTuple, Protocol

from ..users import User

# Called with the current user under the row's write lock; returns the new user, or None when the
# request changes nothing. It may raise an ApiError, which rolls back only that request.
UserChange = Callable[[User], User | None]
# Builds the user a PUT creates when the memberId is absent.
UserFactory = Callable[[], User]


class Stored(NamedTuple):
    """A user as stored: `doc` is its JSON exactly as answered; `changed` is False for a no-op."""

    doc: bytes
    version: int
    changed: bool = False


@dataclass(frozen=True)
class Credentials:
    channel_id: str
    access_key: str
    access_secret: str

    def to_json(self) -> dict[str, str]:
        return {
            "channelId": self.channel_id,
            "accessKey": self.access_key,
            "accessSecret": self.access_secret,
        }


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    created_at: int


class Store(Protocol):
    """A channel-scoped user store. Every user method takes the caller's channel id, so one channel
    can never read or write another's users."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def migrate(self) -> list[str]:
        """Applies pending migrations; returns the names applied. Safe to run from several processes."""
        ...

    async def create_channel(self, name: str, now: int) -> Credentials: ...
    async def count_channels(self) -> int: ...
    async def get_channel(self, channel_id: str) -> Channel | None: ...
    async def find_key(self, access_key: str) -> tuple[str, bytes] | None:
        """(channel id, secret hash) of a key pair, or None."""
        ...

    async def get_user(self, channel_id: str, user_id: str) -> Stored | None: ...
    async def get_member(self, channel_id: str, member_id: str) -> Stored | None: ...
    async def insert_user(self, channel_id: str, user: User) -> Stored: ...
    async def update_user(self, channel_id: str, user_id: str, change: UserChange) -> Stored | None:
        """Applies `change` atomically to the user; None when there is no such user."""
        ...

    async def upsert_member(
        self, channel_id: str, member_id: str, change: UserChange, create: UserFactory
    ) -> Stored:
        """Applies `change` to the member, or inserts `create()` when there is none."""
        ...

    async def delete_user(self, channel_id: str, user_id: str) -> bool: ...
    async def delete_member(self, channel_id: str, member_id: str) -> bool: ...


def hash_secret(secret: str) -> bytes:
    """Secrets are 128-bit random tokens, so a plain SHA-256 is enough (no slow KDF on every request)."""
    return hashlib.sha256(secret.encode()).digest()


def new_key_pair() -> tuple[str, str]:
    return secrets.token_hex(12), secrets.token_hex(16)


def migrations(dialect: str) -> list[tuple[str, str]]:
    """(name, SQL) of every migration for `dialect`, in order."""
    folder = resources.files("channel_users.store") / "migrations" / dialect
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name, f.read_text()) for f in files]


def open_store(url: str, **options: Any) -> Store:
    """The store for a database URL: `sqlite:///PATH` or `postgresql://...`."""
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"), **options)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url, **options)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")
