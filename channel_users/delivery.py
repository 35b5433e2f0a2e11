"""The webhook deliverer: an asyncio task in every server process that posts the outbox.

It claims due deliveries (each the oldest pending one of its webhook and user, so a user's events
arrive in order), posts `POST <url>?token=<token>` with an `X-Signature` header, and removes each
delivered row or reschedules it with exponential backoff. Delivery is at-least-once: a process that
dies mid-post leaves its claim to expire after the lease, and another process posts the row again.
A webhook that fails `block_after` times in a row is blocked.

Settings come from the environment (defaults in brackets):
    CHANNEL_USERS_WEBHOOK_BACKOFF      [1]     seconds before the first retry; doubled on each retry
    CHANNEL_USERS_WEBHOOK_BACKOFF_MAX  [3600]  cap on the wait between retries, seconds
    CHANNEL_USERS_WEBHOOK_BLOCK_AFTER  [100]   failures in a row that block a webhook
    CHANNEL_USERS_WEBHOOK_TIMEOUT      [10]    seconds a receiver has to answer
    CHANNEL_USERS_WEBHOOK_LEASE        [60]    seconds a claim lasts (keep it above the timeout)
    CHANNEL_USERS_WEBHOOK_POLL         [1]     seconds between looks for work written by other processes
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from .ids import now_ms
from .store import Store
from .store.interfaces import Delivery
from .webhooks import delivery_body, signature

log = logging.getLogger("channel_users.delivery")

USER_AGENT = "channel-users-webhooks"


@dataclass(frozen=True)
class DeliveryConfig:
    backoff: float = 1.0
    backoff_max: float = 3600.0
    block_after: int = 100
    timeout: float = 10.0
    lease: float = 60.0
    poll: float = 1.0
    batch: int = 32

    @classmethod
    def from_environment(cls, env: Mapping[str, str] = os.environ) -> DeliveryConfig:
        def number(name: str, default: float) -> float:
            text = env.get(f"CHANNEL_USERS_WEBHOOK_{name}")
            return float(text) if text else default

        defaults = cls()
        return cls(
            backoff=number("BACKOFF", defaults.backoff),
            backoff_max=number("BACKOFF_MAX", defaults.backoff_max),
            block_after=int(number("BLOCK_AFTER", defaults.block_after)),
            timeout=number("TIMEOUT", defaults.timeout),
            lease=number("LEASE", defaults.lease),
            poll=number("POLL", defaults.poll),
        )

    def retry_delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failure in a row of one delivery (1, 2, ...)."""
        return float(min(self.backoff * 2 ** (failures - 1), self.backoff_max))


class Deliverer:
    def __init__(self, store: Store, config: DeliveryConfig | None = None) -> None:
        self.store = store
        self.config = config or DeliveryConfig()
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._next_retry: int | None = None  # epoch ms of the soonest retry this process scheduled

    async def start(self) -> None:
        if logging.getLogger("httpx").level == logging.NOTSET:  # not a line per delivery at INFO
            logging.getLogger("httpx").setLevel(logging.WARNING)
        self._client = httpx.AsyncClient(timeout=self.config.timeout, headers={"user-agent": USER_AGENT})
        self._task = asyncio.create_task(self._run(), name="webhook-deliverer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Deliverer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        ready = self.store.outbox.ready
        while True:
            ready.clear()
            try:
                done = await self.deliver_due()
            except Exception:  # the database is away, say: try again after a poll
                log.exception("webhook delivery round failed")
                done = 0
            if done >= self.config.batch:
                continue  # more may be waiting
            wait = self.config.poll
            if self._next_retry is not None:
                wait = max(0.0, min(wait, (self._next_retry - now_ms()) / 1000))
                self._next_retry = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ready.wait(), wait)

    async def deliver_due(self) -> int:
        """Claims and posts one batch of due deliveries; returns how many were claimed."""
        now = now_ms()
        if not await self.store.has_due_deliveries(now):
            return 0
        lease = int(self.config.lease * 1000)
        claimed = await self.store.claim_deliveries(now, lease, self.config.batch)
        await asyncio.gather(*(self._deliver(delivery) for delivery in claimed))
        return len(claimed)

    async def _deliver(self, delivery: Delivery) -> None:
        body = delivery_body(delivery.scope, delivery.entity)
        headers = {"content-type": "application/json", "x-signature": signature(delivery.token, body)}
        assert self._client is not None, "deliverer is not started"
        try:
            response = await self._client.post(
                delivery.url, params={"token": delivery.token}, content=body, headers=headers
            )
            ok = response.is_success
            outcome = str(response.status_code)
        except httpx.HTTPError as error:
            ok = False
            outcome = type(error).__name__
        if ok:
            await self.store.delivery_succeeded(delivery)
            return
        now = now_ms()
        retry_at = now + int(self.config.retry_delay(delivery.attempts + 1) * 1000)
        blocked = await self.store.delivery_failed(delivery, retry_at, self.config.block_after, now)
        if self._next_retry is None or retry_at < self._next_retry:
            self._next_retry = retry_at
        log.warning(
            "webhook %s: delivery %s failed (%s), attempt %d%s",
            delivery.webhook_id,
            delivery.id,
            outcome,
            delivery.attempts + 1,
            "; webhook blocked" if blocked else "",
        )
