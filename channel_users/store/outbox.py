"""What both backends share about the webhook outbox: the row layout of a webhook and the signal
that wakes this process's deliverer when a write here enqueued deliveries."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec

WEBHOOK_COLUMNS = (
    "id, channel_id, name, url, token, created_at, scopes, api_version, last_blocked_at, blocked"
)


def webhook_view(row: Any) -> dict[str, Any]:
    """A webhook row (selected as WEBHOOK_COLUMNS) as answered: upstream's `webhook.Webhook`."""
    webhook = {
        "id": row[0],
        "channelId": row[1],
        "name": row[2],
        "url": row[3],
        "token": row[4],
        "createdAt": row[5],
        "scopes": msgspec.json.decode(row[6]),
        "apiVersion": row[7],
    }
    if row[8] is not None:
        webhook["lastBlockedAt"] = row[8]
    webhook["blocked"] = bool(row[9])
    return webhook


def outbox_rows(
    webhooks: list[tuple[str, str]], scopes: list[str], user_id: str, entity: bytes, now: int
) -> list[tuple[str, str, str, str, int]]:
    """(webhook id, user id, scope, entity, due at) for each of `scopes` (fired by one change) and
    each of `webhooks` (id, scopes JSON) subscribed to it; a user's rows in delivery order."""
    text = entity.decode()
    subscribed = [(webhook_id, set(msgspec.json.decode(s))) for webhook_id, s in webhooks]
    return [
        (webhook_id, user_id, scope, text, now)
        for scope in scopes
        for webhook_id, wanted in subscribed
        if scope in wanted
    ]


class OutboxSignal:
    """Counts deliveries enqueued by this process's writes and wakes the local deliverer, so a
    change is posted without waiting for the next poll. Other processes find it by polling."""

    def __init__(self) -> None:
        self.pending = 0  # incremented by writes (possibly on the SQLite writer thread)
        self.ready = asyncio.Event()

    def flush(self) -> None:
        """Called on the event loop after a write has committed."""
        if self.pending:
            self.pending = 0
            self.ready.set()
