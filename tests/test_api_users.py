"""The user endpoints over the app (in-process), on both backends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from channel_users.app import create_app
from channel_users.store import open_store

USERS = "/open/v5/users"


async def create_member(api: httpx.AsyncClient, member_id: str = "m1", **body: Any) -> dict[str, Any]:
    response = await api.put(f"{USERS}/@{member_id}", json=body or {"profile": {"name": "Kim"}})
    assert response.status_code == 200, response.text
    user: dict[str, Any] = response.json()["user"]
    return user


def error(response: httpx.Response) -> tuple[int, str, list[dict[str, str]]]:
    body = response.json()
    assert set(body) == {"type", "status", "errors"}
    assert body["status"] == response.status_code
    assert response.headers["content-type"] == "application/json"
    return body["status"], body["type"], body["errors"]


async def test_patch_applies_every_rule_and_returns_the_whole_user(api: httpx.AsyncClient) -> None:
    user = await create_member(api, profile={"name": "Kim", "plan": "free", "city": "Seoul"}, tags=["a"])
    response = await api.patch(f"{USERS}/{user['id']}", json={
        "profile": {"plan": "pro", "city": None, "mobileNumber": "+8201012345678"},
        "profileOnce": {"name": "Lee", "firstSeen": "2024-01-01"},
        "tags": ["VIP", " vip", "Beta"],
        "unsubscribeEmail": True,
    })  # fmt: skip
    assert response.status_code == 200
    after = response.json()["user"]
    assert after["profile"] == {
        "name": "Kim", "plan": "pro", "mobileNumber": "+821012345678", "firstSeen": "2024-01-01",
    }  # fmt: skip
    assert after["tags"] == ["vip", "beta"]
    assert after["unsubscribeEmail"] is True
    assert after["unsubscribeEmailUpdatedAt"] == after["updatedAt"]
    assert after["mobileNumber"] == "+821012345678" and after["mobileNumberQualified"] is True
    assert after["version"] == user["version"] + 1
    assert response.headers["etag"] == f'"{after["version"]}"'
    again = await api.get(f"{USERS}/{user['id']}")
    assert again.json() == {"user": after}


async def test_patch_that_changes_nothing_keeps_version(api: httpx.AsyncClient) -> None:
    user = await create_member(api)
    response = await api.patch(f"{USERS}/{user['id']}", json={"profile": {"name": "Kim"}, "tags": []})
    assert response.json() == {"user": user}


async def test_patch_accepts_a_user_it_read(api: httpx.AsyncClient) -> None:
    user = await create_member(api)
    response = await api.patch(f"{USERS}/{user['id']}", json={**user, "profile": {"name": "Lee"}})
    assert response.status_code == 200 and response.json()["user"]["name"] == "Lee"


async def test_put_upserts_by_member_id(api: httpx.AsyncClient) -> None:
    created = await create_member(api, "shop-42", profile={"email": "kim@example.com"})
    assert created["memberId"] == "shop-42" and created["type"] == "member" and created["version"] == 1
    assert created["emailQualified"] is True
    updated = await create_member(api, "shop-42", profile={"name": "Kim"})
    assert updated["id"] == created["id"] and updated["version"] == 2
    assert updated["profile"] == {"email": "kim@example.com", "name": "Kim"}
    got = await api.get(f"{USERS}/@shop-42")
    assert got.json() == {"user": updated}


async def test_member_id_is_url_decoded_including_slashes(api: httpx.AsyncClient) -> None:
    created = await create_member(api, "kim%40example.com")
    assert created["memberId"] == "kim@example.com"
    response = await api.put(f"{USERS}/@a%2Fb", json={})
    status, kind, errors = error(response)
    assert (status, kind, errors) == (
        400,
        "bad_request",
        [{"message": "must not contain slashes or control characters", "field": "memberId"}],
    )


async def test_create_lead(api: httpx.AsyncClient) -> None:
    response = await api.post(USERS, json={"profile": {"name": "Guest", "email": "nope"}})
    assert response.status_code == 200
    user = response.json()["user"]
    assert user["type"] == "lead" and user["member"] is False and "memberId" not in user
    assert user["emailQualified"] is False and user["version"] == 1


async def test_create_lead_requires_a_profile(api: httpx.AsyncClient) -> None:
    response = await api.post(USERS, json={"profile": {}})
    assert error(response) == (
        400,
        "bad_request",
        [{"message": "is required and must not be empty", "field": "profile"}],
    )


async def test_delete_by_id_and_member(api: httpx.AsyncClient) -> None:
    a = await create_member(api, "a")
    await create_member(api, "b")
    deleted = await api.delete(f"{USERS}/{a['id']}")
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert (await api.get(f"{USERS}/{a['id']}")).status_code == 404
    assert (await api.delete(f"{USERS}/@b")).json() == {}
    assert error(await api.get(f"{USERS}/@b")) == (404, "not_found", [{"message": "user not found"}])
    assert (await api.delete(f"{USERS}/@b")).status_code == 404


async def test_block_unblock_and_touch(api: httpx.AsyncClient) -> None:
    user = await create_member(api)
    blocked = (await api.post(f"{USERS}/{user['id']}/block")).json()["user"]
    assert blocked["blocked"] is True and blocked["version"] == 2
    again = (await api.post(f"{USERS}/{user['id']}/block")).json()["user"]
    assert again == blocked
    unblocked = (await api.delete(f"{USERS}/{user['id']}/block")).json()["user"]
    assert unblocked["blocked"] is False and unblocked["version"] == 3
    touched = (await api.post(f"{USERS}/{user['id']}/touch")).json()["user"]
    assert touched["sessionsCount"] == 1 and touched["lastSeenAt"] >= user["createdAt"]
    touched = (await api.post(f"{USERS}/{user['id']}/touch")).json()["user"]
    assert touched["sessionsCount"] == 2


async def test_get_channel(api: httpx.AsyncClient) -> None:
    response = await api.get("/open/v5/channel")
    channel = response.json()["channel"]
    assert channel["name"] == "Test" and channel["id"].isdigit()


async def test_another_channels_user_is_not_found(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    user = await create_member(api, "mine")
    for method, path in [
        ("GET", f"{USERS}/{user['id']}"), ("GET", f"{USERS}/@mine"),
        ("PATCH", f"{USERS}/{user['id']}"), ("DELETE", f"{USERS}/{user['id']}"),
        ("DELETE", f"{USERS}/@mine"), ("POST", f"{USERS}/{user['id']}/block"),
        ("POST", f"{USERS}/{user['id']}/touch"),
    ]:  # fmt: skip
        response = await other_api.request(method, path, json={"profile": {"x": 1}})
        assert error(response) == (404, "not_found", [{"message": "user not found"}]), (method, path)
    # PUT by the same memberId in another channel creates that channel's own member.
    theirs = (await other_api.put(f"{USERS}/@mine", json={})).json()["user"]
    assert theirs["id"] != user["id"]
    assert (await api.get(f"{USERS}/{user['id']}")).json() == {"user": user}


async def test_unknown_user_id_is_not_found(api: httpx.AsyncClient) -> None:
    for user_id in ["0123456789abcdef0123", "not-an-id"]:
        assert error(await api.get(f"{USERS}/{user_id}"))[:2] == (404, "not_found")


@pytest.mark.parametrize(
    "headers",
    [{}, {"x-access-key": "k"}, {"x-access-secret": "s"}, {"x-access-key": "k", "x-access-secret": "s"}],
)
async def test_missing_or_wrong_keys_are_unauthorized(
    api: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await api.get(
        "/open/v5/channel", headers={"x-access-key": "", "x-access-secret": "", **headers}
    )
    assert error(response) == (
        401,
        "unauthorized",
        [{"message": "missing or invalid x-access-key / x-access-secret"}],
    )


async def test_right_key_with_wrong_secret_is_unauthorized(api: httpx.AsyncClient) -> None:
    response = await api.get("/open/v5/channel", headers={"x-access-secret": "0" * 32})
    assert error(response)[:2] == (401, "unauthorized")


async def test_header_names_are_case_insensitive(api: httpx.AsyncClient) -> None:
    headers = {k.upper(): v for k, v in api.headers.items() if k.startswith("x-access")}
    response = await api.get("/open/v5/channel", headers=headers)
    assert response.status_code == 200


async def test_unknown_path_and_wrong_method(api: httpx.AsyncClient) -> None:
    assert error(await api.get("/open/v5/nothing")) == (
        404,
        "not_found",
        [{"message": "no such endpoint", "field": "path"}],
    )
    assert error(await api.get("/elsewhere"))[:2] == (404, "not_found")
    user = await create_member(api)
    response = await api.put(f"{USERS}/{user['id']}", json={})
    assert error(response) == (405, "method_not_allowed", [{"message": "method not allowed"}])
    assert response.headers["allow"] == "GET, PATCH, DELETE"
    assert error(await api.patch(f"{USERS}/@m1", json={}))[:2] == (405, "method_not_allowed")


async def test_openapi_and_health(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.")
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    docs = await api.get("/docs")
    assert docs.status_code == 200 and docs.headers["content-type"].startswith("text/html")


# Bad input: each answer names the field, and the stored user stays byte-identical.
BAD_BODIES: list[tuple[str, bytes, str, tuple[int, str, str]]] = [
    ("malformed", b'{"profile": {', "application/json", (400, "bad_request", "body")),
    ("truncated", b'{"profile": {"a": "b"}', "application/json", (400, "bad_request", "body")),
    ("empty", b"", "application/json", (400, "bad_request", "body")),
    ("whitespace", b"   ", "application/json", (400, "bad_request", "body")),
    ("not an object", b"[1, 2]", "application/json", (400, "bad_request", "body")),
    ("null", b"null", "application/json", (400, "bad_request", "body")),
    ("NaN", b'{"profile": {"a": NaN}}', "application/json", (400, "bad_request", "body")),
    ("wrong type", b'{"profile": "x"}', "application/json", (400, "bad_request", "profile")),
    ("nested", b'{"profile": {"a": {"b": 1}}}', "application/json", (400, "bad_request", "profile.a")),
    ("array value", b'{"profile": {"a": [1]}}', "application/json", (400, "bad_request", "profile.a")),
    ("huge int", b'{"profile": {"a": 123456789012345678901234567890}}', "application/json",
     (400, "bad_request", "profile.a")),
    ("bad phone", b'{"profile": {"mobileNumber": "12345"}}', "application/json",
     (400, "bad_request", "profile.mobileNumber")),
    ("unknown field", b'{"profiles": {}}', "application/json", (400, "bad_request", "profiles")),
    ("lone surrogate", b'{"profile": {"a": "\\ud800"}}', "application/json", (400, "bad_request", "body")),
    ("tag type", b'{"tags": [1]}', "application/json", (400, "bad_request", "tags[0]")),
    ("flag type", b'{"blocked": "yes"}', "application/json", (400, "bad_request", "blocked")),
    ("text/plain", b'{"profile": {"a": 1}}', "text/plain", (415, "unsupported_media_type", "")),
    ("form", b"profile=1", "application/x-www-form-urlencoded", (415, "unsupported_media_type", "")),
    ("no content type", b'{"profile": {"a": 1}}', "", (415, "unsupported_media_type", "")),
    ("oversize", b'{"profile": {"a": "' + b"x" * (1024 * 1024) + b'"}}', "application/json",
     (413, "payload_too_large", "")),
]  # fmt: skip


@pytest.mark.parametrize(("body", "content_type", "expected"), [b[1:] for b in BAD_BODIES],
                         ids=[b[0] for b in BAD_BODIES])  # fmt: skip
async def test_bad_input_names_the_field_and_changes_nothing(
    api: httpx.AsyncClient, body: bytes, content_type: str, expected: tuple[int, str, str]
) -> None:
    user = await create_member(api, profile={"name": "Kim", "a": 1})
    before = (await api.get(f"{USERS}/{user['id']}")).content
    headers = {"content-type": content_type} if content_type else {}
    for request in [("PATCH", f"{USERS}/{user['id']}"), ("PUT", f"{USERS}/@m1")]:
        response = await api.request(*request, content=body, headers=headers)
        status, kind, errors = error(response)
        assert (status, kind) == expected[:2]
        if expected[2]:
            assert expected[2] in [e.get("field") for e in errors], errors
    assert (await api.get(f"{USERS}/{user['id']}")).content == before


async def test_profile_limit_on_merge_changes_nothing(api: httpx.AsyncClient) -> None:
    user = await create_member(api, profile={f"k{i}": i for i in range(500)})
    response = await api.patch(f"{USERS}/{user['id']}", json={"profile": {"extra": 1}, "tags": ["x"]})
    assert error(response) == (
        400,
        "bad_request",
        [{"message": "a profile holds at most 500 keys", "field": "profile"}],
    )
    assert (await api.get(f"{USERS}/{user['id']}")).json() == {"user": user}


async def test_head_is_answered_like_get_without_a_body(api: httpx.AsyncClient) -> None:
    user = await create_member(api)
    response = await api.head(f"{USERS}/{user['id']}")
    assert response.status_code == 200 and response.headers["etag"] == '"1"'


async def test_readyz_when_migrated(api: httpx.AsyncClient) -> None:
    response = await api.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_503_before_migrations(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'empty.db'}")
    await store.open()
    try:
        transport = httpx.ASGITransport(app=create_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
        assert (response.status_code, response.json()) == (503, {"status": "unavailable"})
        await store.migrate()
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/readyz")).status_code == 200
    finally:
        await store.close()


async def test_metrics_count_answers_by_route_pattern(api: httpx.AsyncClient) -> None:
    user = await create_member(api)
    await api.get(f"{USERS}/{user['id']}")
    await api.get(f"{USERS}/0123456789abcdef0123")
    response = await api.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'channel_users_requests_total{method="GET",route="users/{userId}",status="200"} 1' in text
    assert 'channel_users_requests_total{method="GET",route="users/{userId}",status="404"} 1' in text
    assert 'channel_users_requests_total{method="PUT",route="users/@{memberId}",status="200"} 1' in text
    assert 'channel_users_request_seconds_count{method="GET",route="users/{userId}"} 2' in text
    assert user["id"] not in text
