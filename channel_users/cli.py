"""The command line (SPEC section 8). `serve` is the default command."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

import click
import uvicorn

from .app import DEFAULT_DATABASE
from .ids import now_ms
from .store import Credentials, open_store

DATABASE_HELP = (
    "sqlite:///PATH or postgresql://user:pass@host:port/dbname "
    "[default: $CHANNEL_USERS_DATABASE, else sqlite:///channel-users.db]"
)


def database_url(value: str | None) -> str:
    """The URL to use, with a relative SQLite path made absolute so every worker opens the same file."""
    url = value or os.environ.get("CHANNEL_USERS_DATABASE") or DEFAULT_DATABASE
    if url.startswith("sqlite:///"):
        return "sqlite:///" + os.path.abspath(url.removeprefix("sqlite:///"))
    return url


class DefaultGroup(click.Group):
    """A group that runs `serve` when no command is named (`channel-users --port 9000`)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0].startswith("-") and args[0] not in ("--help", "-h")):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """channel-users: the Channel Open API v5 user resource on your own database."""


async def _prepare(url: str) -> tuple[list[str], Credentials | None]:
    """Applies migrations and, on an empty database, creates the first channel."""
    store = open_store(url)
    applied = await store.migrate()
    await store.open()
    try:
        first = None
        if await store.count_channels() == 0:
            first = await store.create_channel("Default", now_ms())
        return applied, first
    finally:
        await store.close()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option("--database", "database", default=None, help=DATABASE_HELP)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Server processes sharing the database.",
)
def serve(host: str, port: int, database: str | None, workers: int) -> None:
    """Serve the API: applies pending migrations, and on an empty database creates a channel and
    prints its key pair."""
    url = database_url(database)
    applied, first = asyncio.run(_prepare(url))
    for name in applied:
        click.echo(f"applied migration {name}", err=True)
    if first is not None:
        click.echo(
            "Created channel; use this key pair in x-access-key / x-access-secret:", err=True
        )
        click.echo(json.dumps(first.to_json()))
        sys.stdout.flush()
    os.environ["CHANNEL_USERS_DATABASE"] = url
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    click.echo(f"channel-users listening on http://{host}:{port} ({workers} process(es))", err=True)
    options: dict[str, Any] = {"loop": "uvloop", "http": "httptools", "access_log": False}
    uvicorn.run(
        "channel_users.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        **options,
    )


@main.group()
def channels() -> None:
    """Manage channels and their key pairs."""


@channels.command("create")
@click.option("--name", required=True, help="The channel's name.")
@click.option("--database", "database", default=None, help=DATABASE_HELP)
def channels_create(name: str, database: str | None) -> None:
    """Create a channel with a key pair; prints {"channelId", "accessKey", "accessSecret"}."""

    async def create() -> Credentials:
        store = open_store(database_url(database))
        await store.migrate()
        await store.open()
        try:
            return await store.create_channel(name, now_ms())
        finally:
            await store.close()

    click.echo(json.dumps(asyncio.run(create()).to_json()))


@main.command()
@click.option("--database", "database", default=None, help=DATABASE_HELP)
def migrate(database: str | None) -> None:
    """Apply pending database migrations."""
    applied = asyncio.run(open_store(database_url(database)).migrate())
    click.echo(f"applied {len(applied)} migration(s)" + "".join(f"\n  {n}" for n in applied))
