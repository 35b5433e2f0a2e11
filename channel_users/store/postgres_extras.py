"""PostgreSQL side of events, signing keys, webhooks, the delivery outbox and rate counters.

Several processes claim deliveries at once: a claim locks rows with `FOR UPDATE SKIP LOCKED` and
sets a lease (`claimed_until`), so each row is posted by one process; a process that dies mid-post
loses its lease and another process retries the row (at-least-once).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec

from ..events import Event, Page
from ..ids import now_ms
from ..tokens import new_signing_key
from ..webhooks import fired_scopes
from .interfaces import Delivery, Webhook, WebhookChange
from .outbox import WEBHOOK_COLUMNS, OutboxSignal, outbox_rows, webhook_view

_encode = msgspec.json.encode
_decode = msgspec.json.decode

_CLAIM = """
UPDATE webhook_deliveries d SET claimed_until = $1
FROM webhooks w
WHERE w.id = d.webhook_id AND d.id IN (
    SELECT c.id FROM webhook_deliveries c JOIN webhooks cw ON cw.id = c.webhook_id
    WHERE c.due_at <= $2 AND c.claimed_until <= $2 AND NOT cw.blocked
      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries e
                      WHERE e.webhook_id = c.webhook_id AND e.user_id = c.user_id AND e.id < c.id)
    ORDER BY c.id LIMIT $3
    FOR UPDATE OF c SKIP LOCKED)
RETURNING d.id, d.webhook_id, w.url, w.token, d.scope, d.entity, d.attempts
"""

# A new user and the outbox rows of the scopes its creation fires ($7, in order), for every webhook of
# the channel subscribed to them.
INSERT_WITH_OUTBOX = """
WITH u AS (
    INSERT INTO users (id, channel_id, member_id, version, updated_at, doc)
    VALUES ($1, $2, $3, $4, $5, $6) RETURNING id
), q AS (
    INSERT INTO webhook_deliveries (webhook_id, user_id, scope, entity, due_at)
    SELECT w.id, u.id, s.scope, $6, $8
    FROM u CROSS JOIN unnest($7::text[]) WITH ORDINALITY AS s (scope, n)
    JOIN webhooks w ON w.channel_id = $2 AND NOT w.blocked AND w.scopes::jsonb ? s.scope
    ORDER BY s.n, w.id
    RETURNING 1
)
SELECT (SELECT count(*) FROM u) AS inserted, (SELECT count(*) FROM q) AS queued
"""

_FAILED = """
UPDATE webhooks SET failures = failures + 1,
    last_blocked_at = CASE WHEN failures + 1 >= $2 AND NOT blocked THEN $3 ELSE last_blocked_at END,
    blocked = blocked OR failures + 1 >= $2
WHERE id = $1 RETURNING blocked
"""


async def enqueue(
    conn: asyncpg.Connection, signal: OutboxSignal, before: Any, after: Any, entity: bytes
) -> None:
    """Inserts the outbox rows of a user change, inside the change's transaction. Costs nothing
    when the change fires no scope, and one indexed read when the channel has no webhooks."""
    scopes = fired_scopes(before, after)
    if not scopes:
        return
    user = after or before
    webhooks = await conn.fetch(
        "SELECT id, scopes FROM webhooks WHERE channel_id = $1 AND NOT blocked", user["channelId"]
    )
    rows = outbox_rows([(r[0], r[1]) for r in webhooks], scopes, user["id"], entity, now_ms())
    if rows:
        await conn.executemany(
            "INSERT INTO webhook_deliveries (webhook_id, user_id, scope, entity, due_at)"
            " VALUES ($1, $2, $3, $4, $5)",
            rows,
        )
        signal.pending += len(rows)


class PostgresExtras:
    """Mixed into `PostgresStore`, which provides `pool` and `outbox`."""

    outbox: OutboxSignal

    @property
    def pool(self) -> asyncpg.Pool:
        raise NotImplementedError

    # --- events ---------------------------------------------------------------------------------

    async def _user_exists(self, channel_id: str, user_id: str) -> bool:
        found = await self.pool.fetchval(
            "SELECT 1 FROM users WHERE id = $1 AND channel_id = $2", user_id, channel_id
        )
        return found is not None

    async def insert_event(self, channel_id: str, event: Event) -> bool:
        try:
            status = await self.pool.execute(
                "INSERT INTO events (id, channel_id, user_id, created_at, doc)"
                " SELECT $1, $2, $3, $4, $5 WHERE EXISTS"
                " (SELECT 1 FROM users WHERE id = $3 AND channel_id = $2)",
                event["id"],
                channel_id,
                event["userId"],
                event["createdAt"],
                _encode(event).decode(),
            )
        except asyncpg.ForeignKeyViolationError:  # the user was deleted meanwhile
            return False
        return bool(status == "INSERT 0 1")

    async def list_events(self, channel_id: str, user_id: str, page: Page) -> list[Event] | None:
        if not await self._user_exists(channel_id, user_id):
            return None
        ascending = page.scan_ascending
        sql = "SELECT doc FROM events WHERE user_id = $1 AND channel_id = $2"
        args: list[Any] = [user_id, channel_id, page.limit + 1]
        if page.after is not None:
            sql += " AND (created_at, id) " + (">" if ascending else "<") + " ($4, $5)"
            args.extend(page.after)
        direction = "" if ascending else " DESC"
        sql += f" ORDER BY created_at{direction}, id{direction} LIMIT $3"
        return [_decode(row[0]) for row in await self.pool.fetch(sql, *args)]

    async def delete_event(self, channel_id: str, user_id: str, event_id: str) -> bool:
        status = await self.pool.execute(
            "DELETE FROM events WHERE id = $1 AND user_id = $2 AND channel_id = $3",
            event_id,
            user_id,
            channel_id,
        )
        return bool(status != "DELETE 0")

    async def signing_key(self, channel_id: str) -> bytes:
        select = "SELECT secret FROM signing_keys WHERE channel_id = $1"
        secret = await self.pool.fetchval(select, channel_id)
        if secret is None:
            await self.pool.execute(
                "INSERT INTO signing_keys VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                channel_id,
                new_signing_key(),
                now_ms(),
            )
            secret = await self.pool.fetchval(select, channel_id)  # ours, or a racing process's
        return bytes(secret)

    # --- webhooks -------------------------------------------------------------------------------

    async def insert_webhook(self, channel_id: str, webhook: Webhook) -> Webhook:
        created_at = await self.pool.fetchval(
            f"INSERT INTO webhooks ({WEBHOOK_COLUMNS})"
            " SELECT $1, $2, $3, $4, $5, GREATEST($6, COALESCE(max(created_at) + 1, 0)), $7, $8, NULL,"
            " FALSE FROM webhooks WHERE channel_id = $2 RETURNING created_at",
            webhook["id"],
            channel_id,
            webhook["name"],
            webhook["url"],
            webhook["token"],
            webhook["createdAt"],
            _encode(webhook["scopes"]).decode(),
            webhook["apiVersion"],
        )
        return {**webhook, "createdAt": created_at}

    async def get_webhook(self, channel_id: str, webhook_id: str) -> Webhook | None:
        row = await self.pool.fetchrow(
            f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND channel_id = $2",
            webhook_id,
            channel_id,
        )
        return webhook_view(row) if row else None

    async def list_webhooks(self, channel_id: str, since: int | None, limit: int) -> list[Webhook]:
        rows = await self.pool.fetch(
            f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE channel_id = $1"
            " AND ($2::bigint IS NULL OR created_at <= $2) ORDER BY created_at DESC LIMIT $3",
            channel_id,
            since,
            limit,
        )
        return [webhook_view(row) for row in rows]

    async def update_webhook(self, channel_id: str, webhook_id: str, change: WebhookChange) -> Webhook | None:
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"SELECT {WEBHOOK_COLUMNS} FROM webhooks WHERE id = $1 AND channel_id = $2 FOR UPDATE",
                webhook_id,
                channel_id,
            )
            if row is None:
                return None
            before = webhook_view(row)
            after = change(before)
            if after is None:
                return before
            await conn.execute(
                "UPDATE webhooks SET name = $2, url = $3, scopes = $4, api_version = $5,"
                " blocked = $6, failures = CASE WHEN $6 THEN failures ELSE 0 END WHERE id = $1",
                webhook_id,
                after["name"],
                after["url"],
                _encode(after["scopes"]).decode(),
                after["apiVersion"],
                after["blocked"],
            )
            return after

    async def delete_webhook(self, channel_id: str, webhook_id: str) -> bool:
        # The deliveries go with it (ON DELETE CASCADE).
        status = await self.pool.execute(
            "DELETE FROM webhooks WHERE id = $1 AND channel_id = $2", webhook_id, channel_id
        )
        return bool(status != "DELETE 0")

    # --- delivery -------------------------------------------------------------------------------

    async def has_due_deliveries(self, now: int) -> bool:
        found = await self.pool.fetchval(
            "SELECT 1 FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
            " WHERE d.due_at <= $1 AND d.claimed_until <= $1 AND NOT w.blocked LIMIT 1",
            now,
        )
        return found is not None

    async def claim_deliveries(self, now: int, lease_ms: int, limit: int) -> list[Delivery]:
        rows = await self.pool.fetch(_CLAIM, now + lease_ms, now, limit)
        return sorted(
            (Delivery(r[0], r[1], r[2], r[3], r[4], r[5].encode(), r[6]) for r in rows),
            key=lambda delivery: delivery.id,
        )

    async def delivery_succeeded(self, delivery: Delivery) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM webhook_deliveries WHERE id = $1", delivery.id)
            await conn.execute(
                "UPDATE webhooks SET failures = 0 WHERE id = $1 AND failures <> 0",
                delivery.webhook_id,
            )

    async def delivery_failed(self, delivery: Delivery, retry_at: int, block_after: int, now: int) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE webhook_deliveries SET attempts = attempts + 1, due_at = $2,"
                " claimed_until = 0 WHERE id = $1",
                delivery.id,
                retry_at,
            )
            blocked = await conn.fetchval(_FAILED, delivery.webhook_id, block_after, now)
            return bool(blocked)

    # --- rate limits ----------------------------------------------------------------------------

    async def take_rate_budget(
        self, channel_id: str, window_start: int, amount: int, limit: int
    ) -> tuple[int, int]:
        used: int = await self.pool.fetchval(
            "INSERT INTO rate_counters VALUES ($1, $2, $3) ON CONFLICT (channel_id, window_start)"
            " DO UPDATE SET used = rate_counters.used + excluded.used RETURNING used",
            channel_id,
            window_start,
            amount,
        )
        if used == amount:  # the window's first grant: forget the channel's older windows
            await self.pool.execute(
                "DELETE FROM rate_counters WHERE channel_id = $1 AND window_start < $2",
                channel_id,
                window_start,
            )
        granted = max(0, min(amount, limit - (used - amount)))
        return granted, min(used, limit)
