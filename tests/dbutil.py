"""Reading a test database directly (SQLite file or PostgreSQL), bypassing the store."""

from __future__ import annotations

import sqlite3
from typing import Any

import asyncpg


async def fetch_all(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    """Every row of `sql` (no parameters) as tuples."""
    if database_url.startswith("sqlite:///"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        try:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
        finally:
            conn.close()
    pg = await asyncpg.connect(database_url)
    try:
        return [tuple(row) for row in await pg.fetch(sql)]
    finally:
        await pg.close()


async def count(database_url: str, table: str) -> int:
    rows = await fetch_all(database_url, f"SELECT count(*) FROM {table}")
    return int(rows[0][0])
