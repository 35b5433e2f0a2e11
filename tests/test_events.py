"""User events over HTTP on both backends: create, validation, cursor paging, delete, cascade."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest

from channel_users.errors import BadRequest
from channel_users.events import Page, page_request
from channel_users.ids import is_id
from channel_users.store import Credentials, Store

from .upstream_schemas import validate


async def new_user(api: httpx.AsyncClient, member_id: str = "m1") -> str:
    r = await api.put(f"/open/v5/users/@{member_id}", json={"profile": {"name": "Kim"}})
    assert r.status_code == 200, r.text
    user_id: str = r.json()["user"]["id"]
    return user_id


async def post_event(api: httpx.AsyncClient, user_id: str, **body: Any) -> dict[str, Any]:
    r = await api.post(f"/open/v5/users/{user_id}/events", json=body)
    assert r.status_code == 200, r.text
    validate("EventView", r.json())
    event: dict[str, Any] = r.json()["event"]
    return event


def errors_of(r: httpx.Response) -> list[tuple[str | None, str]]:
    body = r.json()
    assert body["status"] == r.status_code
    return [(e.get("field"), e["message"]) for e in body["errors"]]


async def test_create_event_answers_the_stored_event(api: httpx.AsyncClient, channel: Credentials) -> None:
    user_id = await new_user(api)
    prop = {"plan": "pro", "seats": 3, "price": 9.5, "trial": False, "note": None}
    event = await post_event(api, user_id, name="Upgrade", property=prop)
    assert is_id(event["id"])
    assert event == {
        "id": event["id"],
        "channelId": channel.channel_id,
        "userId": user_id,
        "name": "Upgrade",
        "property": {"plan": "pro", "seats": 3, "price": 9.5, "trial": False},
        "createdAt": event["createdAt"],
    }
    r = await api.get(f"/open/v5/users/{user_id}/events", params={"sortOrder": "desc"})
    assert r.json() == {"events": [event]}


async def test_create_event_ignores_read_only_fields_and_omits_an_empty_property(
    api: httpx.AsyncClient,
) -> None:
    user_id = await new_user(api)
    event = await post_event(api, user_id, name="Login", id="x", userId="y", createdAt=1, version=3)
    assert event["userId"] == user_id and event["id"] != "x" and event["createdAt"] > 1
    assert "property" not in event


async def test_create_event_reports_every_violation(api: httpx.AsyncClient) -> None:
    user_id = await new_user(api)
    body = {
        "name": "x" * 31,
        "property": {"ok": 1, "deep": {"a": 1}, "long": "é" * 257, "1bad": 2, "list": [1]},
        "extra": True,
    }
    r = await api.post(f"/open/v5/users/{user_id}/events", json=body)
    assert r.status_code == 400
    assert sorted(errors_of(r), key=str) == sorted(
        [
            ("extra", "unknown field"),
            ("name", "must be 1 to 30 characters"),
            ("property.deep", "must be a string, number, boolean or null"),
            ("property.long", "must be at most 512 bytes"),
            ("property.1bad", "key must match ^[A-Za-z][A-Za-z0-9_]{0,63}$"),
            ("property.list", "must be a string, number, boolean or null"),
        ],
        key=str,
    )
    r = await api.post(f"/open/v5/users/{user_id}/events", json={"property": "x"})
    assert errors_of(r) == [
        ("name", "is required and must be a string"),
        ("property", "must be an object"),
    ]
    r = await api.get(f"/open/v5/users/{user_id}/events", params={"sortOrder": "asc"})
    assert r.json() == {"events": []}


async def test_property_string_limit_counts_bytes(api: httpx.AsyncClient) -> None:
    user_id = await new_user(api)
    event = await post_event(api, user_id, name="e", property={"s": "é" * 256, "t": "a" * 512})
    assert len(event["property"]["s"].encode()) == 512


async def test_events_of_an_absent_or_foreign_user_are_not_found(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    user_id = await new_user(api)
    event = await post_event(api, user_id, name="e")
    absent = "0" * 20
    for client, uid in ((api, absent), (other_api, user_id), (api, "not-an-id")):
        r = await client.post(f"/open/v5/users/{uid}/events", json={"name": "e"})
        assert r.status_code == 404, r.text
        assert errors_of(r) == [(None, "user not found")]
        r = await client.get(f"/open/v5/users/{uid}/events", params={"sortOrder": "asc"})
        assert r.status_code == 404
    r = await other_api.delete(f"/open/v5/users/{user_id}/events/{event['id']}")
    assert r.status_code == 404
    assert errors_of(r) == [(None, "event not found")]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, [("sortOrder", "is required and must be asc or desc")]),
        ({"sortOrder": "both"}, [("sortOrder", "is required and must be asc or desc")]),
        ({"sortOrder": "asc", "limit": "0"}, [("limit", "must be an integer from 1 to 500")]),
        ({"sortOrder": "asc", "limit": "501"}, [("limit", "must be an integer from 1 to 500")]),
        ({"sortOrder": "asc", "limit": "ten"}, [("limit", "must be an integer from 1 to 500")]),
        ({"sortOrder": "asc", "since": "garbage"}, [("since", "is not a cursor this server issued")]),
        (
            {"limit": "-1", "since": "W10"},
            [
                ("sortOrder", "is required and must be asc or desc"),
                ("limit", "must be an integer from 1 to 500"),
                ("since", "is not a cursor this server issued"),
            ],
        ),
    ],
)
async def test_list_query_errors_name_their_field(
    api: httpx.AsyncClient, query: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    user_id = await new_user(api)
    r = await api.get(f"/open/v5/users/{user_id}/events", params=query)
    assert r.status_code == 400
    assert errors_of(r) == expected


async def _walk(
    api: httpx.AsyncClient, user_id: str, order: str, limit: int, since: str | None, key: str
) -> tuple[list[list[str]], dict[str, Any]]:
    """The ids of every page from `since` following the `key` cursor (next or prev), and the last
    page's body."""
    pages: list[list[str]] = []
    while True:
        params = {"sortOrder": order, "limit": str(limit)}
        if since is not None:
            params["since"] = since
        r = await api.get(f"/open/v5/users/{user_id}/events", params=params)
        assert r.status_code == 200, r.text
        validate("EventsV2View", r.json())
        body = r.json()
        assert body["events"], "a cursor led to an empty page"
        pages.append([e["id"] for e in body["events"]])
        since = body.get(key)
        if since is None:
            return pages, body
        assert len(pages) < 50


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_paging_walks_every_page_exactly_once(api: httpx.AsyncClient, order: str) -> None:
    user_id = await new_user(api)
    created = [await post_event(api, user_id, name=f"e{i}") for i in range(23)]
    expected = [e["id"] for e in sorted(created, key=lambda e: (e["createdAt"], e["id"]))]
    if order == "desc":
        expected.reverse()
    pages, last = await _walk(api, user_id, order, 5, None, "next")
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert [i for page in pages for i in page] == expected
    # Walking back from the last page's `prev` meets the same pages, the first one having no prev.
    back, first = await _walk(api, user_id, order, 5, last["prev"], "prev")
    assert back == list(reversed(pages[:-1]))
    assert "prev" not in first and "next" in first


async def test_default_limit_is_25_and_an_exact_last_page_has_no_next(api: httpx.AsyncClient) -> None:
    user_id = await new_user(api)
    for i in range(26):
        await post_event(api, user_id, name=f"e{i}")
    r = await api.get(f"/open/v5/users/{user_id}/events", params={"sortOrder": "asc"})
    first = r.json()
    assert len(first["events"]) == 25 and "next" in first and "prev" not in first
    r = await api.get(f"/open/v5/users/{user_id}/events", params={"sortOrder": "asc", "since": first["next"]})
    second = r.json()
    assert len(second["events"]) == 1 and "next" not in second and "prev" in second
    r = await api.get(
        f"/open/v5/users/{user_id}/events",
        params={"sortOrder": "asc", "limit": "26", "since": second["prev"]},
    )
    assert [e["id"] for e in r.json()["events"]] == [e["id"] for e in first["events"]]
    assert "prev" not in r.json() and "next" in r.json()


async def test_delete_event(api: httpx.AsyncClient) -> None:
    user_id = await new_user(api)
    keep = await post_event(api, user_id, name="keep")
    gone = await post_event(api, user_id, name="gone")
    r = await api.delete(f"/open/v5/users/{user_id}/events/{gone['id']}")
    assert r.status_code == 200 and r.json() == {}
    r = await api.delete(f"/open/v5/users/{user_id}/events/{gone['id']}")
    assert r.status_code == 404
    r = await api.get(f"/open/v5/users/{user_id}/events", params={"sortOrder": "asc"})
    assert r.json() == {"events": [keep]}


async def test_deleting_a_user_deletes_its_events(
    api: httpx.AsyncClient, store: Store, channel: Credentials
) -> None:
    user_id = await new_user(api)
    other_id = await new_user(api, "m2")
    await post_event(api, user_id, name="a")
    other_event = await post_event(api, other_id, name="b")
    stored = await store.get_user(channel.channel_id, user_id)
    assert stored is not None
    r = await api.delete(f"/open/v5/users/{user_id}")
    assert r.status_code == 200
    # A user stored again under the same id finds no events of the deleted one.
    await store.insert_user(channel.channel_id, msgspec.json.decode(stored.doc))
    assert await store.list_events(channel.channel_id, user_id, Page("asc", 10)) == []
    assert await store.list_events(channel.channel_id, other_id, Page("asc", 10)) == [other_event]


def test_page_request_decodes_its_own_cursors() -> None:
    from channel_users.events import encode_cursor

    event = {"id": "5f0c1435e68c92da02fd", "createdAt": 1594627125000}
    page = page_request({"sortOrder": "desc", "since": encode_cursor(event, backward=True), "limit": "7"})
    assert page == Page("desc", 7, (1594627125000, "5f0c1435e68c92da02fd"), backward=True)
    assert page.scan_ascending
    with pytest.raises(BadRequest):
        page_request({"sortOrder": "asc", "since": encode_cursor(event, False)[:-2]})
