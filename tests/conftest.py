"""Shared fixtures: stores on both backends, in-process API clients, and real servers over sockets.

PostgreSQL is the server on this machine; `CHANNEL_USERS_TEST_POSTGRES` names an admin URL
(default `postgresql://postgres@127.0.0.1:5432/postgres`). Tests create their own databases there.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from channel_users.app import create_app
from channel_users.ids import now_ms
from channel_users.store import Credentials, Store, open_store

POSTGRES_ADMIN = os.environ.get(
    "CHANNEL_USERS_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgres"]


def postgres_url(database: str) -> str:
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + database


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_postgres_database() -> str:
    """A new, empty database; returns its URL. Dropped by `drop_postgres_database`."""
    name = f"channel_users_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    return postgres_url(name)


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_session_url() -> Iterator[str]:
    """One migrated database for the in-process tests of a session, emptied before each test."""
    url = create_postgres_database()
    asyncio.run(open_store(url).migrate())
    yield url
    drop_postgres_database(url)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'users.db'}"
    url: str = request.getfixturevalue("postgres_session_url")
    asyncio.run(_truncate(url))
    return url


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename <> 'schema_migrations'"
        )
        if tables:
            names = ", ".join(f'"{t["tablename"]}"' for t in tables)
            await conn.execute(f"TRUNCATE {names} RESTART IDENTITY")
    finally:
        await conn.close()


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = open_store(database_url)
    await store.migrate()
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def channel(store: Store) -> Credentials:
    return await store.create_channel("Test", now_ms())


@pytest.fixture
async def other_channel(store: Store) -> Credentials:
    return await store.create_channel("Other", now_ms())


def auth_headers(credentials: Credentials) -> dict[str, str]:
    return {"x-access-key": credentials.access_key, "x-access-secret": credentials.access_secret}


def _client(store: Store, credentials: Credentials) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(store))
    return httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=auth_headers(credentials)
    )


@pytest.fixture
async def api(store: Store, channel: Credentials) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process, authenticated as `channel`."""
    async with _client(store, channel) as client:
        yield client


@pytest.fixture
async def other_api(store: Store, other_channel: Credentials) -> AsyncIterator[httpx.AsyncClient]:
    """The same app, authenticated as a second channel."""
    async with _client(store, other_channel) as client:
        yield client


# --- real servers over real sockets -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """A `channel-users serve` process; the key pair is the first-run channel it printed."""

    base_url: str
    access_key: str
    access_secret: str
    channel_id: str
    database_url: str
    process: subprocess.Popen[str]
    log: Path
    args: list[str] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"x-access-key": self.access_key, "x-access-secret": self.access_secret}

    def kill(self) -> None:
        """kill -9 of the whole server (its worker processes included)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def start_server(
    database_url: str, log_dir: Path, *, workers: int = 1, credentials: Credentials | None = None
) -> LiveServer:
    """Starts the real server and waits until it answers. Without `credentials`, the database must
    be new so that the server prints its first-run key pair."""
    port = free_port()
    log = log_dir / f"server-{port}.log"
    args = [sys.executable, "-m", "channel_users", "serve", "--port", str(port),
            "--database", database_url, "--workers", str(workers)]  # fmt: skip
    out = log.open("w")
    process = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=out, text=True, start_new_session=True
    )
    if credentials is None:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            process.wait()
            raise RuntimeError(f"server printed no key pair: {log.read_text()}")
        first = json.loads(line)
        credentials = Credentials(first["channelId"], first["accessKey"], first["accessSecret"])
    server = LiveServer(
        f"http://127.0.0.1:{port}", credentials.access_key, credentials.access_secret,
        credentials.channel_id, database_url, process, log, args,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()}")
        try:
            if httpx.get(server.base_url + "/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError(f"server did not start: {log.read_text()}")


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """`channel-users serve` on a free loopback port with a fresh SQLite file."""
    server = start_server(f"sqlite:///{tmp_path / 'live.db'}", tmp_path)
    yield server
    server.stop()


@pytest.fixture(params=BACKENDS)
def server_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database URL on each backend, for tests that start real servers."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'server.db'}"
        return
    url = create_postgres_database()
    yield url
    drop_postgres_database(url)
