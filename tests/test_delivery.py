"""Webhook delivery against real HTTP receivers on loopback, on both backends: scopes, signatures,
retries, blocking, order per user, several processes, and a server killed mid-delivery."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from channel_users.delivery import Deliverer, DeliveryConfig
from channel_users.ids import now_ms
from channel_users.store import Credentials, Store

from .conftest import LiveServer, start_server
from .receiver import Receiver
from .upstream_schemas import validate

FAST = DeliveryConfig(backoff=0.05, backoff_max=0.2, block_after=100, timeout=5, lease=10, poll=0.1)
USER_SCOPES = [
    "lead.upserted.contact",
    "lead.upserted.subscription",
    "lead.deleted",
    "member.upserted.contact",
    "member.upserted.subscription",
    "member.deleted",
]
SERVER_ENV = {
    "CHANNEL_USERS_WEBHOOK_BACKOFF": "0.1",
    "CHANNEL_USERS_WEBHOOK_BACKOFF_MAX": "0.5",
    "CHANNEL_USERS_WEBHOOK_POLL": "0.2",
    "CHANNEL_USERS_WEBHOOK_LEASE": "3",
    "CHANNEL_USERS_WEBHOOK_TIMEOUT": "2",
}


@pytest.fixture
def receiver() -> Any:
    with Receiver() as r:
        yield r


async def add_webhook(api: httpx.AsyncClient, url: str, scopes: list[str]) -> dict[str, Any]:
    body = {"name": "test", "url": url, "scopes": scopes, "apiVersion": "v5"}
    r = await api.post("/open/v5/webhooks", json=body)
    assert r.status_code == 200, r.text
    hook: dict[str, Any] = r.json()["webhook"]
    return hook


async def outbox_empty(store: Store) -> bool:
    return not await store.has_due_deliveries(now_ms() + 10**12)


async def drained(store: Store, timeout: float = 15) -> None:
    """Waits until every delivery has left the outbox (delivered, or its webhook deleted)."""
    deadline = time.monotonic() + timeout
    while not await outbox_empty(store):
        assert time.monotonic() < deadline, "deliveries still pending"
        await asyncio.sleep(0.02)


def per_user(events: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The scopes each user's deliveries arrived with, in arrival order."""
    scopes: dict[str, list[str]] = {}
    for scope, user_id in events:
        scopes.setdefault(user_id, []).append(scope)
    return scopes


@pytest.fixture
async def deliverer(store: Store) -> AsyncIterator[Deliverer]:
    async with Deliverer(store, FAST) as d:
        yield d


async def test_each_scope_reaches_exactly_the_webhooks_subscribed_to_it(
    api: httpx.AsyncClient, store: Store, deliverer: Deliverer
) -> None:
    with Receiver() as every, Receiver() as subscription, Receiver() as leads:
        hook = await add_webhook(api, every.url, USER_SCOPES)
        await add_webhook(api, subscription.url, ["member.upserted.subscription"])
        await add_webhook(api, leads.url, ["lead.upserted.contact", "lead.deleted", "userChat.opened"])

        r = await api.put("/open/v5/users/@m1", json={"profile": {"email": "a@b.co"}})
        member = r.json()["user"]
        await api.patch(f"/open/v5/users/{member['id']}", json={"profile": {"name": "Kim"}, "tags": ["x"]})
        await api.post(f"/open/v5/users/{member['id']}/touch")
        await api.post(f"/open/v5/users/{member['id']}/block")
        await api.patch(f"/open/v5/users/{member['id']}", json={"profile": {"mobileNumber": "+821012345678"}})
        r = await api.patch(f"/open/v5/users/{member['id']}", json={"unsubscribeEmail": True})
        unsubscribed = r.json()["user"]
        lead = (await api.post("/open/v5/users", json={"profile": {"name": "Lee"}})).json()["user"]
        await api.patch(f"/open/v5/users/{lead['id']}", json={"unsubscribeTexting": True})
        await api.delete("/open/v5/users/@m1")
        await api.delete(f"/open/v5/users/{lead['id']}")
        await drained(store)

        m, ld = member["id"], lead["id"]
        # In order for each user (different users' deliveries may pass each other).
        assert per_user(every.events()) == {
            m: [
                "member.upserted.contact",
                "member.upserted.contact",
                "member.upserted.subscription",
                "member.deleted",
            ],
            ld: ["lead.upserted.contact", "lead.upserted.subscription", "lead.deleted"],
        }
        assert subscription.events() == [("member.upserted.subscription", m)]
        assert leads.events() == [("lead.upserted.contact", ld), ("lead.deleted", ld)]
        assert len(every.received) == 7  # nothing was posted twice

        [first] = [r for r in every.delivered() if r.body["entity"]["id"] == m][:1]
        assert first.path == "/hook" and first.query == {"token": [hook["token"]]}
        assert first.headers["content-type"] == "application/json"
        expected = hmac.new(hook["token"].encode(), first.raw, hashlib.sha256).hexdigest()
        assert first.headers["x-signature"] == expected
        assert first.body == {"event": "member.upserted.contact", "type": "user", "entity": member}
        assert subscription.delivered()[0].body["entity"] == unsubscribed
        for received in every.delivered():
            validate("open.OpenApiUserDto", received.body["entity"])


async def test_a_receiver_that_fails_then_recovers_gets_every_event_in_order(
    api: httpx.AsyncClient, store: Store, deliverer: Deliverer
) -> None:
    with Receiver(answer=lambda n: 500 if n < 6 else 200) as flaky:
        await add_webhook(api, flaky.url, USER_SCOPES)
        expected: list[tuple[str, str]] = []
        for i in range(3):
            r = await api.put(f"/open/v5/users/@m{i}", json={"profile": {"email": f"{i}@b.co"}})
            uid = r.json()["user"]["id"]
            expected.append(("member.upserted.contact", uid))
            for j in range(2):
                await api.patch(f"/open/v5/users/{uid}", json={"profile": {"email": f"{i}.{j}@b.co"}})
                expected.append(("member.upserted.contact", uid))
            await api.patch(f"/open/v5/users/{uid}", json={"unsubscribeTexting": True})
            expected.append(("member.upserted.subscription", uid))
        await drained(store)
        got = flaky.events()
        assert sorted(got) == sorted(expected)  # every event exactly once among the successes
        assert len(flaky.received) == len(expected) + 6
        assert per_user(got) == per_user(expected)  # and in order for each user
        last = expected[-1][1]
        emails = [r.body["entity"].get("email") for r in flaky.delivered() if r.body["entity"]["id"] == last]
        assert emails == ["2@b.co", "2.0@b.co", "2.1@b.co", "2.1@b.co"]


async def test_a_receiver_that_always_fails_gets_the_webhook_blocked(
    api: httpx.AsyncClient, store: Store, receiver: Receiver
) -> None:
    config = DeliveryConfig(backoff=0.02, backoff_max=0.05, block_after=3, poll=0.05)
    with Receiver(answer=lambda n: 503) as failing:
        hook = await add_webhook(api, failing.url, USER_SCOPES)
        async with Deliverer(store, config):
            before = now_ms()
            user = (await api.post("/open/v5/users", json={"profile": {"name": "Lee"}})).json()["user"]

            async def blocked() -> dict[str, Any]:
                deadline = time.monotonic() + 15
                while True:
                    got: dict[str, Any] = (await api.get(f"/open/v5/webhooks/{hook['id']}")).json()["webhook"]
                    if got["blocked"]:
                        return got
                    assert time.monotonic() < deadline, "webhook was not blocked"
                    await asyncio.sleep(0.02)

            got = await blocked()
            assert got["lastBlockedAt"] >= before
            validate("WebhookView", {"webhook": got})
            assert len(failing.received) == 3
            # Blocked: no new deliveries are queued for it, and the pending one waits.
            await api.patch(f"/open/v5/users/{user['id']}", json={"profile": {"email": "a@b.co"}})
            await asyncio.sleep(0.3)  # several poll rounds: a post now would be a bug
            assert len(failing.received) == 3
            # A new url unblocks it; the pending delivery goes there, and only that one.
            r = await api.patch(f"/open/v5/webhooks/{hook['id']}", json={"url": receiver.url})
            assert r.json()["webhook"]["blocked"] is False
            await drained(store)
            assert receiver.events() == [("lead.upserted.contact", user["id"])]


async def test_deleting_a_webhook_drops_its_pending_deliveries(
    api: httpx.AsyncClient, store: Store, receiver: Receiver
) -> None:
    hook = await add_webhook(api, receiver.url, USER_SCOPES)
    await api.post("/open/v5/users", json={"profile": {"name": "Lee"}})
    assert not await outbox_empty(store)
    await api.delete(f"/open/v5/webhooks/{hook['id']}")
    assert await outbox_empty(store)


async def test_a_rolled_back_change_queues_nothing(
    api: httpx.AsyncClient, store: Store, receiver: Receiver, channel: Credentials
) -> None:
    await add_webhook(api, receiver.url, USER_SCOPES)
    user = (await api.put("/open/v5/users/@m1", json={"profile": {"name": "Kim"}})).json()["user"]
    async with Deliverer(store, FAST):
        await drained(store)

    def failing_change(current: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the request fails after its rules ran")

    with pytest.raises(RuntimeError):
        await store.update_user(channel.channel_id, user["id"], failing_change)
    r = await api.patch(
        f"/open/v5/users/{user['id']}", json={"tags": ["a" * 51], "profile": {"email": "x@y.co"}}
    )
    assert r.status_code == 400
    assert await outbox_empty(store)


async def test_no_webhooks_means_no_outbox_rows(api: httpx.AsyncClient, store: Store) -> None:
    r = await api.put("/open/v5/users/@m1", json={"profile": {"email": "a@b.co"}, "unsubscribeEmail": True})
    await api.delete(f"/open/v5/users/{r.json()['user']['id']}")
    assert await outbox_empty(store)
    assert store.outbox.pending == 0 and not store.outbox.ready.is_set()


# --- real servers ---------------------------------------------------------------------------------


def live_webhook(server: LiveServer, url: str) -> dict[str, Any]:
    body = {"name": "live", "url": url, "scopes": USER_SCOPES, "apiVersion": "v5"}
    r = httpx.post(server.base_url + "/open/v5/webhooks", json=body, headers=server.headers)
    assert r.status_code == 200, r.text
    hook: dict[str, Any] = r.json()["webhook"]
    return hook


def test_two_processes_deliver_each_event_once_and_in_order(
    server_database: str, tmp_path: Path, receiver: Receiver
) -> None:
    server = start_server(server_database, tmp_path, workers=2, env=SERVER_ENV)
    try:
        live_webhook(server, receiver.url)
        expected: list[tuple[str, str]] = []

        async def one_member(client: httpx.AsyncClient, i: int) -> None:
            r = await client.put(f"/open/v5/users/@m{i}", json={"profile": {"email": f"{i}@b.co"}})
            uid = r.json()["user"]["id"]
            expected.append(("member.upserted.contact", uid))
            for j in range(3):
                r = await client.patch(f"/open/v5/users/{uid}", json={"profile": {"email": f"{i}.{j}@b.co"}})
                assert r.status_code == 200
                expected.append(("member.upserted.contact", uid))

        async def load() -> None:
            limits = httpx.Limits(max_keepalive_connections=0)  # new connections spread over processes
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=server.headers, limits=limits
            ) as c:
                await asyncio.gather(*(one_member(c, i) for i in range(20)))

        asyncio.run(load())
        receiver.wait_until(lambda: len(receiver.received) >= len(expected))
        time.sleep(0.5)  # a duplicate would arrive within the poll interval
        got = receiver.events()
        assert len(receiver.received) == len(got) == len(expected)
        assert sorted(got) == sorted(expected)
        for uid in {u for _, u in expected}:
            emails = [
                r.body["entity"]["email"] for r in receiver.delivered() if r.body["entity"]["id"] == uid
            ]
            assert emails == sorted(emails, key=lambda e: (len(e), e)), emails
    finally:
        server.stop()


def test_a_server_killed_mid_delivery_delivers_after_restart(
    server_database: str, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.hold = threading.Event()
    server = start_server(server_database, tmp_path, env=SERVER_ENV)
    credentials = Credentials(server.channel_id, server.access_key, server.access_secret)
    restarted = None
    try:
        live_webhook(server, receiver.url)
        r = httpx.put(
            server.base_url + "/open/v5/users/@m1", json={"profile": {"name": "Kim"}}, headers=server.headers
        )
        assert r.status_code == 200
        user = r.json()["user"]
        receiver.wait_until(lambda: receiver.arrivals == 1)  # committed, claimed, posted, unanswered
        server.kill()
        receiver.hold.set()
        receiver.wait_until(lambda: len(receiver.received) == 1)
        restarted = start_server(server_database, tmp_path, credentials=credentials, env=SERVER_ENV)
        receiver.wait_until(lambda: len(receiver.received) == 2)  # once the dead process's lease ends
        again = receiver.received[1]
        assert again.raw == receiver.received[0].raw
        assert again.body == {"event": "member.upserted.contact", "type": "user", "entity": user}
        time.sleep(0.5)
        assert len(receiver.received) == 2  # delivered now, so not again
    finally:
        server.kill()
        if restarted is not None:
            restarted.stop()
