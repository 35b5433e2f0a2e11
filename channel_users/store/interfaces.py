"""The storage interface of events, signing keys, webhooks, the delivery outbox and rate counters.

`base.Store` extends these Protocols; both backends implement them (`sqlite_extras.py`,
`postgres_extras.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ..events import Event, Page
from .outbox import OutboxSignal

Webhook = dict[str, Any]
# Called with the current webhook under its row lock; returns the new one, or None for no change.
WebhookChange = Callable[[Webhook], Webhook | None]


@dataclass(frozen=True)
class Delivery:
    """One claimed outbox row: `entity` is the user's JSON as it was when the change committed."""

    id: int
    webhook_id: str
    url: str
    token: str
    scope: str
    entity: bytes
    attempts: int


class EventStore(Protocol):
    async def insert_event(self, channel_id: str, event: Event) -> bool:
        """Stores the event; False (and nothing stored) when its user does not exist."""
        ...

    async def list_events(self, channel_id: str, user_id: str, page: Page) -> list[Event] | None:
        """Up to `page.limit + 1` events beyond `page.after`, in the page's scan order; None when
        there is no such user."""
        ...

    async def delete_event(self, channel_id: str, user_id: str, event_id: str) -> bool: ...

    async def signing_key(self, channel_id: str) -> bytes:
        """The channel's HS256 key, made and stored on first use (the same key in every process)."""
        ...


class WebhookStore(Protocol):
    outbox: OutboxSignal  # set when this process's writes enqueue deliveries

    async def insert_webhook(self, channel_id: str, webhook: Webhook) -> Webhook:
        """Stores the webhook; its `createdAt` is made unique within the channel (list paging keys
        on it), so the stored webhook is returned."""
        ...

    async def get_webhook(self, channel_id: str, webhook_id: str) -> Webhook | None: ...
    async def list_webhooks(self, channel_id: str, since: int | None, limit: int) -> list[Webhook]:
        """Up to `limit` webhooks with createdAt <= since (all when None), newest first."""
        ...

    async def update_webhook(self, channel_id: str, webhook_id: str, change: WebhookChange) -> Webhook | None:
        """Applies `change` atomically; None when there is no such webhook."""
        ...

    async def delete_webhook(self, channel_id: str, webhook_id: str) -> bool:
        """Deletes the webhook and its pending deliveries."""
        ...

    async def has_due_deliveries(self, now: int) -> bool:
        """A cheap read: whether any delivery of a webhook not blocked may be claimable now."""
        ...

    async def claim_deliveries(self, now: int, lease_ms: int, limit: int) -> list[Delivery]:
        """Claims up to `limit` due deliveries until `now + lease_ms`, each the oldest pending one of
        its (webhook, user), of webhooks not blocked. No other process claims them meanwhile."""
        ...

    async def delivery_succeeded(self, delivery: Delivery) -> None:
        """Removes the delivery and resets its webhook's consecutive failures."""
        ...

    async def delivery_failed(self, delivery: Delivery, retry_at: int, block_after: int, now: int) -> bool:
        """Reschedules the delivery at `retry_at` and counts the webhook's failure; blocks the webhook
        at `block_after` failures in a row. Returns whether it is now blocked."""
        ...

    async def take_rate_budget(
        self, channel_id: str, window_start: int, amount: int, limit: int
    ) -> tuple[int, int]:
        """Adds up to `amount` to the channel's shared counter for the window (never past `limit`);
        returns (granted, count after)."""
        ...


__all__ = ["Delivery", "Event", "EventStore", "Page", "Webhook", "WebhookChange", "WebhookStore"]
