"""The webhook registry over HTTP on both backends, and the pure rules of which scope fires."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from channel_users import webhooks
from channel_users.users import User

from .upstream_schemas import validate

BODY = {
    "name": "crm",
    "url": "https://example.com/hook",
    "scopes": ["member.upserted.contact"],
    "apiVersion": "v5",
}


def user(**fields: Any) -> User:
    base: User = {"id": "u", "type": "lead", "unsubscribeEmail": False, "unsubscribeTexting": False}
    return {**base, **fields}


@pytest.mark.parametrize(
    ("before", "after", "scopes"),
    [
        (None, user(), ["lead.upserted.contact"]),
        (None, user(type="member"), ["member.upserted.contact"]),
        (user(), None, ["lead.deleted"]),
        (user(type="member"), None, ["member.deleted"]),
        (None, None, []),
        (user(), user(), []),
        (user(name="a"), user(name="b", tags=["x"], version=2), []),
        (user(), user(email="a@b.co"), ["lead.upserted.contact"]),
        (user(email="a@b.co"), user(), ["lead.upserted.contact"]),
        (user(mobileNumber="+1"), user(mobileNumber="+2"), ["lead.upserted.contact"]),
        (user(), user(unsubscribeEmail=True), ["lead.upserted.subscription"]),
        (user(type="member"), user(type="member", unsubscribeTexting=True), ["member.upserted.subscription"]),
        (
            user(type="member"),
            user(type="member", email="a@b.co", unsubscribeEmail=True),
            ["member.upserted.contact", "member.upserted.subscription"],
        ),
    ],
)
def test_fired_scopes(before: User | None, after: User | None, scopes: list[str]) -> None:
    assert webhooks.fired_scopes(before, after) == scopes


def test_signature_is_hmac_sha256_of_the_body() -> None:
    body = webhooks.delivery_body("lead.deleted", b'{"id":"u"}')
    assert body == b'{"event":"lead.deleted","type":"user","entity":{"id":"u"}}'
    # echo -n '<body>' | openssl dgst -sha256 -hmac secret
    assert (
        webhooks.signature("secret", body)
        == "901f7fd86b1a921a38c54640b5dccd1cc6edddece77747138e5c1c588a89d9a0"
    )


async def test_create_get_list_patch_delete(api: httpx.AsyncClient) -> None:
    r = await api.post("/open/v5/webhooks", json=BODY)
    assert r.status_code == 200, r.text
    validate("WebhookView", r.json())
    hook = r.json()["webhook"]
    assert {k: hook[k] for k in BODY} == BODY
    assert hook["blocked"] is False and len(hook["token"]) == 32 and "lastBlockedAt" not in hook
    r = await api.get(f"/open/v5/webhooks/{hook['id']}")
    assert r.json() == {"webhook": hook}
    r = await api.get("/open/v5/webhooks")
    validate("WebhooksView", r.json())
    assert r.json() == {"webhooks": [hook]}

    patch = {"name": "crm2", "scopes": ["lead.deleted", "member.deleted"], "token": "ignored"}
    r = await api.patch(f"/open/v5/webhooks/{hook['id']}", json=patch)
    assert r.status_code == 200, r.text
    validate("WebhookView", r.json())
    patched = r.json()["webhook"]
    assert patched == {**hook, "name": "crm2", "scopes": ["lead.deleted", "member.deleted"]}
    assert (await api.get(f"/open/v5/webhooks/{hook['id']}")).json() == {"webhook": patched}

    r = await api.delete(f"/open/v5/webhooks/{hook['id']}")
    assert r.status_code == 200 and r.json() == {}
    for method in ("GET", "PATCH", "DELETE"):
        r = await api.request(method, f"/open/v5/webhooks/{hook['id']}", json={"name": "x"})
        assert r.status_code == 404
        assert r.json()["errors"] == [{"message": "webhook not found"}]


async def test_webhooks_of_another_channel_are_not_found(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    hook = (await api.post("/open/v5/webhooks", json=BODY)).json()["webhook"]
    assert (await other_api.get(f"/open/v5/webhooks/{hook['id']}")).status_code == 404
    assert (await other_api.patch(f"/open/v5/webhooks/{hook['id']}", json={"name": "x"})).status_code == 404
    assert (await other_api.delete(f"/open/v5/webhooks/{hook['id']}")).status_code == 404
    assert (await other_api.get("/open/v5/webhooks")).json() == {"webhooks": []}
    assert (await api.get(f"/open/v5/webhooks/{hook['id']}")).status_code == 200


async def test_list_pages_newest_first_with_since(api: httpx.AsyncClient) -> None:
    created = [
        (await api.post("/open/v5/webhooks", json={**BODY, "name": f"h{i}"})).json()["webhook"]
        for i in range(5)
    ]
    assert len({h["createdAt"] for h in created}) == 5  # createdAt is unique within a channel
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        body = (await api.get("/open/v5/webhooks", params=params)).json()
        validate("WebhooksView", body)
        seen += [h["name"] for h in body["webhooks"]]
        if "next" not in body:
            break
        params["since"] = body["next"]
    assert seen == ["h4", "h3", "h2", "h1", "h0"]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {},
            [
                ("name", "is required"),
                ("url", "is required"),
                ("scopes", "is required"),
                ("apiVersion", "is required"),
            ],
        ),
        (
            {**BODY, "url": "ftp://example.com", "scopes": ["lead.deleted", "nope", "lead.deleted"], "x": 1},
            [
                ("x", "unknown field"),
                ("url", "must be an absolute http or https URL without a fragment"),
                ("scopes[1]", "unknown scope"),
                ("scopes[2]", "duplicate scope"),
            ],
        ),
        (
            {**BODY, "name": " ", "scopes": []},
            [("name", "must be a non-empty string"), ("scopes", "must be a non-empty array of scopes")],
        ),
        ({**BODY, "name": "n" * 101}, [("name", "must be at most 100 characters")]),
        ([], [("body", "request body must be a JSON object")]),
    ],
)
async def test_create_reports_every_violation(
    api: httpx.AsyncClient, body: Any, errors: list[tuple[str, str]]
) -> None:
    r = await api.post("/open/v5/webhooks", json=body)
    assert r.status_code == 400
    assert [(e["field"], e["message"]) for e in r.json()["errors"]] == errors
    assert (await api.get("/open/v5/webhooks")).json() == {"webhooks": []}


async def test_patch_validates_only_what_it_sends(api: httpx.AsyncClient) -> None:
    hook = (await api.post("/open/v5/webhooks", json=BODY)).json()["webhook"]
    r = await api.patch(f"/open/v5/webhooks/{hook['id']}", json={"url": "nope"})
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"field": "url", "message": "must be an absolute http or https URL without a fragment"}
    ]
    r = await api.patch(f"/open/v5/webhooks/{hook['id']}", json={"blocked": True, "createdAt": 1})
    assert r.json() == {"webhook": hook}  # read-only fields are ignored


@pytest.mark.parametrize("query", [{"limit": "0"}, {"limit": "501"}, {"limit": "x"}, {"since": "-1"}])
async def test_list_query_errors(api: httpx.AsyncClient, query: dict[str, str]) -> None:
    r = await api.get("/open/v5/webhooks", params=query)
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["field"] == next(iter(query))


def test_a_new_url_unblocks() -> None:
    hook = {"name": "a", "url": "http://a", "scopes": ["lead.deleted"], "apiVersion": "v5", "blocked": True}
    assert webhooks.patched_webhook(hook, {"name": "a"}) is None
    assert webhooks.patched_webhook(hook, {"name": "b"}) == {**hook, "name": "b"}
    assert webhooks.patched_webhook(hook, {"url": "http://b"}) == {
        **hook,
        "url": "http://b",
        "blocked": False,
    }
