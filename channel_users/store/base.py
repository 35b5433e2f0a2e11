"""The storage interface both backends implement, and the database-URL dispatch."""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, NamedTuple, Protocol

from ..users import User
from .interfaces import EventStore, WebhookStore

# Called with the current user under the row's write lock; returns the new user, or None when the
# request changes nothing. It may raise an ApiError, which rolls back only that request.
UserChange = Callable[[User], User | None]
# Builds the user a PUT creates when the memberId is absent.
UserFactory = Callable[[], User]
# Called with the current version (None: no such user) under the row lock before a delete; may raise.
VersionCheck = Callable[[int | None], None]

KEY_TTL_MS = 24 * 3600 * 1000  # an Idempotency-Key is remembered this long (SPEC section 7)
# A claim still running after this long belongs to a request that died (a killed process): a retry
# may take it over. The first request then cannot record its answer, so its change rolls back.
KEY_LEASE_MS = 30_000


class Stored(NamedTuple):
    """A user as stored: `doc` is its JSON exactly as answered; `changed` is False for a no-op."""

    doc: bytes
    version: int
    changed: bool = False


class Answer(NamedTuple):
    """An HTTP answer as an Idempotency-Key remembers it."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class KeyUse:
    """An Idempotency-Key the current request has claimed (`token` tells this claim from a later
    one). A write given a KeyUse records `answer(stored)` in the same transaction as its change,
    so after a crash a retry finds either both or neither; `recorded` is then set."""

    channel_id: str
    key: str
    token: str
    answer: Callable[[Stored], Answer]
    recorded: bool = False


class Claim(NamedTuple):
    """The outcome of claiming a key: `claimed` (run the request), `running` (another request
    holds it), `mismatch` (the key was used for another request) or `done` (replay `answer`)."""

    state: Literal["claimed", "running", "mismatch", "done"]
    answer: Answer | None = None


def existing_claim(fingerprint: bytes, row: Any) -> Claim:
    """The claim outcome for a live key record `row` (fingerprint, state, status, headers, body)."""
    if bytes(row[0]) != fingerprint:
        return Claim("mismatch")
    if row[1] != "done":
        return Claim("running")
    return Claim("done", Answer(row[2], json.loads(row[3]), bytes(row[4])))


PURGE_EVERY = 256  # claims between two purges of expired keys, per process
PURGE_BATCH = 1000  # expired keys deleted by one purge (bounds the time it holds the write lock)


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


class Store(EventStore, WebhookStore, Protocol):
    """A channel-scoped user store. Every user method takes the caller's channel id, so one channel
    can never read or write another's users. A user write also inserts, in its own transaction, the
    webhook deliveries it fires (the outbox), and deleting a user deletes its events."""

    async def open(self) -> None: ...
    async def ready(self) -> bool:
        """True when the database answers and every migration is applied."""
        ...

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

    async def create_key(self, channel_id: str, now: int) -> Credentials:
        """Another key pair for an existing channel."""
        ...

    async def delete_key(self, access_key: str) -> bool:
        """Deletes a key pair; False when there was none."""
        ...

    async def get_user(self, channel_id: str, user_id: str) -> Stored | None: ...
    async def get_member(self, channel_id: str, member_id: str) -> Stored | None: ...
    # A write given `key` records the key's answer in the same transaction (see KeyUse); it raises
    # Conflict, rolling its change back, when a retry has taken the key over meanwhile.
    async def insert_user(self, channel_id: str, user: User, key: KeyUse | None = None) -> Stored: ...
    async def update_user(
        self, channel_id: str, user_id: str, change: UserChange, key: KeyUse | None = None
    ) -> Stored | None:
        """Applies `change` atomically to the user; None when there is no such user."""
        ...

    async def upsert_member(
        self,
        channel_id: str,
        member_id: str,
        change: UserChange,
        create: UserFactory,
        key: KeyUse | None = None,
    ) -> Stored:
        """Applies `change` to the member, or inserts `create()` when there is none."""
        ...

    async def delete_user(self, channel_id: str, user_id: str, check: VersionCheck | None = None) -> bool:
        """Deletes the user, after `check` of its version under the row lock; False when absent."""
        ...

    async def delete_member(
        self, channel_id: str, member_id: str, check: VersionCheck | None = None
    ) -> bool: ...

    async def claim_key(self, channel_id: str, key: str, fingerprint: bytes, token: str, now: int) -> Claim:
        """Claims an Idempotency-Key for a request with this fingerprint, unless it is held, done
        or used for another request within KEY_TTL_MS. Expired keys are purged lazily."""
        ...

    async def finish_key(self, use: KeyUse, answer: Answer) -> bool:
        """Records the answer of a claimed key on its own; False when the claim was taken over."""
        ...

    async def release_key(self, use: KeyUse) -> None:
        """Forgets a claim whose request failed without an answer worth replaying (a 5xx)."""
        ...


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


def migration_names(dialect: str) -> frozenset[str]:
    return frozenset(name for name, _ in migrations(dialect))


def open_store(url: str, **options: Any) -> Store:
    """The store for a database URL: `sqlite:///PATH` or `postgresql://...`."""
    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"), **options)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url, **options)
    raise ValueError(f"unsupported database URL {url!r}: use sqlite:///PATH or postgresql://...")
