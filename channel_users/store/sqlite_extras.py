"""SQLite side of events, signing keys, webhooks, the delivery outbox and rate counters.

Writes go through the store's one writer (so `BEGIN IMMEDIATE` serialises them across processes,
and a claim is exclusive without row locks); reads use the reader connection.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from ..events import Event, Page
from ..tokens import new_signing_key
from ..webhooks import fired_scopes
from .interfaces import Delivery, Webhook, WebhookChange
from .outbox import WEBHOOK_COLUMNS, OutboxSignal, outbox_rows, webhook_view
from .sqlite_writer import Writer

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def enqueue(
    conn: sqlite3.Connection, signal: OutboxSignal, before: Any, after: Any, entity: bytes, now: int
) -> None:
    """Inserts the outbox rows of a user change, inside the change's transaction. Costs nothing
    when the change fires no scope, and one indexed read when the channel has no webhooks."""
    scopes = fired_scopes(before, after)
    if not scopes:
        return
    user = after or before
    webhooks = conn.execute(
        "SELECT id, scopes FROM webhooks WHERE channel_id = ? AND blocked = 0", (user["channelId"],)
    ).fetchall()
    rows = outbox_rows(webhooks, scopes, user["id"], entity, now)
    if rows:
        conn.executemany(
            "INSERT INTO webhook_deliveries (webhook_id, user_id, scope, entity, due_at)"
            " VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        signal.pending += len(rows)


class SQLiteExtras:
    """Mixed into `SQLiteStore`, which provides `reader`, `writer` and `outbox`."""

    outbox: OutboxSignal

    @property
    def reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    @property
    def writer(self) -> Writer:
        raise NotImplementedError

    # --- events ---------------------------------------------------------------------------------

    def _user_exists(self, conn: sqlite3.Connection, channel_id: str, user_id: str) -> bool:
        row = conn.execute(
            "SELECT 1 FROM users WHERE id = ? AND channel_id = ?", (user_id, channel_id)
        ).fetchone()
        return row is not None

    async def insert_event(self, channel_id: str, event: Event) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            if not self._user_exists(conn, channel_id, event["userId"]):
                return False
            conn.execute(
                "INSERT INTO events (id, channel_id, user_id, created_at, doc) VALUES (?, ?, ?, ?, ?)",
                (event["id"], channel_id, event["userId"], event["createdAt"], _encode(event).decode()),
            )
            return True

        return await self.writer.run(write)

    async def list_events(self, channel_id: str, user_id: str, page: Page) -> list[Event] | None:
        if not self._user_exists(self.reader, channel_id, user_id):
            return None
        ascending = page.scan_ascending
        sql = "SELECT doc FROM events WHERE user_id = ? AND channel_id = ?"
        args: list[Any] = [user_id, channel_id]
        if page.after is not None:
            sql += " AND (created_at, id) " + (">" if ascending else "<") + " (?, ?)"
            args.extend(page.after)
        direction = "" if ascending else " DESC"
        sql += f" ORDER BY created_at{direction}, id{direction} LIMIT ?"
        args.append(page.limit + 1)
        return [_decode(doc) for (doc,) in self.reader.execute(sql, args)]

    async def delete_event(self, channel_id: str, user_id: str, event_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM events WHERE id = ? AND user_id = ? AND channel_id = ?",
                (event_id, user_id, channel_id),
            )
            return cursor.rowcount > 0

        return await self.writer.run(write)

    async def signing_key(self, channel_id: str) -> bytes:
        row = self.reader.execute(
            "SELECT secret FROM signing_keys WHERE channel_id = ?", (channel_id,)
        ).fetchone()
        if row is not None:
            return bytes(row[0])

        def write(conn: sqlite3.Connection) -> bytes:
            conn.execute(
                "INSERT OR IGNORE INTO signing_keys VALUES (?, ?, strftime('%s') * 1000)",
                (channel_id, new_signing_key()),
            )
            (secret,) = conn.execute(
                "SELECT secret FROM signing_keys WHERE channel_id = ?", (channel_id,)
            ).fetchone()
            return bytes(secret)

        return await self.writer.run(write)

    # --- webhooks -------------------------------------------------------------------------------

    async def insert_webhook(self, channel_id: str, webhook: Webhook) -> Webhook:
        def write(conn: sqlite3.Connection) -> Webhook:
            (latest,) = conn.execute(
                "SELECT max(created_at) FROM webhooks WHERE channel_id = ?", (channel_id,)
            ).fetchone()
            created_at = max(webhook["createdAt"], (latest or 0) + 1)
            conn.execute(
                f"INSERT INTO webhooks ({WEBHOOK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, 0)",
                (
                    webhook["id"],
                    channel_id,
                    webhook["name"],
                    webhook["url"],
                    webhook["token"],
                    created_at,
                    _encode(webhook["scopes"]).decode(),
                    webhook["apiVersion"],
                ),
            )
            return {**webhook, "createdAt": created_at}

        return await self.writer.run(write)

    def _select_webhook(self, conn: sqlite3.Connection, channel_id: str, webhook_id: str) -> Webhook | None:
        row = conn.execute(
            f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = ? AND channel_id = ?",
            (webhook_id, channel_id),
        ).fetchone()
        return webhook_view(row) if row else None

    async def get_webhook(self, channel_id: str, webhook_id: str) -> Webhook | None:
        return self._select_webhook(self.reader, channel_id, webhook_id)

    async def list_webhooks(self, channel_id: str, since: int | None, limit: int) -> list[Webhook]:
        rows = self.reader.execute(
            f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE channel_id = ?"
            " AND (? IS NULL OR created_at <= ?) ORDER BY created_at DESC LIMIT ?",
            (channel_id, since, since, limit),
        ).fetchall()
        return [webhook_view(row) for row in rows]

    async def update_webhook(self, channel_id: str, webhook_id: str, change: WebhookChange) -> Webhook | None:
        def write(conn: sqlite3.Connection) -> Webhook | None:
            before = self._select_webhook(conn, channel_id, webhook_id)
            if before is None:
                return None
            after = change(before)
            if after is None:
                return before
            conn.execute(
                "UPDATE webhooks SET name = ?, url = ?, scopes = ?, api_version = ?, blocked = ?,"
                " failures = CASE WHEN ? THEN failures ELSE 0 END WHERE id = ?",
                (
                    after["name"],
                    after["url"],
                    _encode(after["scopes"]).decode(),
                    after["apiVersion"],
                    after["blocked"],
                    after["blocked"],
                    webhook_id,
                ),
            )
            return after

        return await self.writer.run(write)

    async def delete_webhook(self, channel_id: str, webhook_id: str) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "DELETE FROM webhooks WHERE id = ? AND channel_id = ?", (webhook_id, channel_id)
            )
            if cursor.rowcount == 0:
                return False
            conn.execute("DELETE FROM webhook_deliveries WHERE webhook_id = ?", (webhook_id,))
            return True

        return await self.writer.run(write)

    # --- delivery -------------------------------------------------------------------------------

    async def has_due_deliveries(self, now: int) -> bool:
        row = self.reader.execute(
            "SELECT 1 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
            " WHERE d.due_at <= ? AND d.claimed_until <= ? AND w.blocked = 0 LIMIT 1",
            (now, now),
        ).fetchone()
        return row is not None

    async def claim_deliveries(self, now: int, lease_ms: int, limit: int) -> list[Delivery]:
        def write(conn: sqlite3.Connection) -> list[Delivery]:
            claimed = conn.execute(
                "UPDATE webhook_deliveries SET claimed_until = ? WHERE id IN ("
                " SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
                " WHERE d.due_at <= ? AND d.claimed_until <= ? AND w.blocked = 0"
                " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e WHERE e.webhook_id = d.webhook_id"
                "  AND e.user_id = d.user_id AND e.id < d.id)"
                " ORDER BY d.id LIMIT ?)"
                " RETURNING id, webhook_id, scope, entity, attempts",
                (now + lease_ms, now, now, limit),
            ).fetchall()
            targets = {
                webhook_id: (url, token)
                for webhook_id, url, token in conn.execute(
                    "SELECT id, url, token FROM webhooks WHERE id IN (SELECT value FROM json_each(?))",
                    (_encode(sorted({row[1] for row in claimed})).decode(),),
                )
            }
            claimed.sort()
            return [
                Delivery(row[0], row[1], *targets[row[1]], row[2], row[3].encode(), row[4]) for row in claimed
            ]

        return await self.writer.run(write)

    async def delivery_succeeded(self, delivery: Delivery) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM webhook_deliveries WHERE id = ?", (delivery.id,))
            conn.execute(
                "UPDATE webhooks SET failures = 0 WHERE id = ? AND failures <> 0",
                (delivery.webhook_id,),
            )

        await self.writer.run(write)

    async def delivery_failed(self, delivery: Delivery, retry_at: int, block_after: int, now: int) -> bool:
        def write(conn: sqlite3.Connection) -> bool:
            conn.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, due_at = ?, claimed_until = 0"
                " WHERE id = ?",
                (retry_at, delivery.id),
            )
            row = conn.execute(
                "UPDATE webhooks SET failures = failures + 1,"
                " last_blocked_at = CASE WHEN failures + 1 >= ? AND blocked = 0 THEN ?"
                "  ELSE last_blocked_at END,"
                " blocked = CASE WHEN failures + 1 >= ? THEN 1 ELSE blocked END"
                " WHERE id = ? RETURNING blocked",
                (block_after, now, block_after, delivery.webhook_id),
            ).fetchone()
            return bool(row and row[0])

        return await self.writer.run(write)

    # --- rate limits ----------------------------------------------------------------------------

    async def take_rate_budget(
        self, channel_id: str, window_start: int, amount: int, limit: int
    ) -> tuple[int, int]:
        def write(conn: sqlite3.Connection) -> int:
            conn.execute(
                "DELETE FROM rate_counters WHERE channel_id = ? AND window_start < ?",
                (channel_id, window_start),
            )
            (used,) = conn.execute(
                "INSERT INTO rate_counters VALUES (?, ?, ?) ON CONFLICT (channel_id, window_start)"
                " DO UPDATE SET used = used + excluded.used RETURNING used",
                (channel_id, window_start, amount),
            ).fetchone()
            return int(used)

        used = await self.writer.run(write)
        granted = max(0, min(amount, limit - (used - amount)))
        return granted, min(used, limit)
