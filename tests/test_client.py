"""The client against a real server over a real socket (sync and async), and what it sends."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from channel_users import (
    UNSET,
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    NotFoundError,
    PreconditionFailedError,
    TransportError,
    User,
)

# What is sent (captured by a MockTransport; the server's answer is beside the point here)

USER = {"id": "5f0c1435e68c92da02fd", "channelId": "1", "type": "lead", "version": 1}


@pytest.fixture
def sent() -> Iterator[tuple[Client, list[httpx.Request]]]:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"user": USER})

    with Client(
        "the-key", "the-secret", "http://api.test/", transport=httpx.MockTransport(handler)
    ) as client:
        yield client, requests


def body(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


def test_sends_credentials_and_json_headers(sent: tuple[Client, list[httpx.Request]]) -> None:
    client, requests = sent
    client.users.patch("u1", tags=["a"])
    headers = requests[0].headers
    assert headers["x-access-key"] == "the-key"
    assert headers["x-access-secret"] == "the-secret"
    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert str(requests[0].url) == "http://api.test/open/v5/users/u1"


def test_keywords_left_out_are_not_sent(sent: tuple[Client, list[httpx.Request]]) -> None:
    client, requests = sent
    client.users.patch("u1", unsubscribe_email=False)
    assert body(requests[0]) == {"unsubscribeEmail": False}


def test_none_sends_null_for_profile_values_profile_and_tags(
    sent: tuple[Client, list[httpx.Request]],
) -> None:
    client, requests = sent
    client.users.patch("u1", profile={"city": None, "age": 3}, tags=None)
    client.users.upsert("m", profile=None, profile_once={"name": "A"}, tags=[])
    assert body(requests[0]) == {"profile": {"city": None, "age": 3}, "tags": None}
    assert body(requests[1]) == {"profile": None, "profileOnce": {"name": "A"}, "tags": []}


def test_every_update_keyword_maps_to_its_json_key(
    sent: tuple[Client, list[httpx.Request]],
) -> None:
    client, requests = sent
    client.users.upsert(
        "m",
        profile={"a": 1},
        profile_once={"b": True},
        tags=("x",),
        unsubscribe_email=True,
        unsubscribe_texting=False,
        blocked=True,
        language="ko",
        if_match=4,
    )
    assert body(requests[0]) == {
        "profile": {"a": 1},
        "profileOnce": {"b": True},
        "tags": ["x"],
        "unsubscribeEmail": True,
        "unsubscribeTexting": False,
        "blocked": True,
        "language": "ko",
    }
    assert requests[0].headers["If-Match"] == '"4"'
    assert repr(UNSET) == "UNSET"


def test_member_id_is_percent_encoded(sent: tuple[Client, list[httpx.Request]]) -> None:
    client, requests = sent
    client.users.get_by_member_id("a/b c@d?e#f%")
    client.users.delete_by_member_id("ü")
    assert requests[0].url.raw_path == b"/open/v5/users/@a%2Fb%20c%40d%3Fe%23f%25"
    assert requests[1].url.raw_path == b"/open/v5/users/@%C3%BC"


def test_user_id_is_percent_encoded_and_never_read_as_member(
    sent: tuple[Client, list[httpx.Request]],
) -> None:
    client, requests = sent
    client.users.get("../channel")
    assert requests[0].url.raw_path == b"/open/v5/users/..%2Fchannel"
    with pytest.raises(ValueError, match="must not start with '@'"):
        client.users.get("@member")
    with pytest.raises(ValueError, match="must not be empty"):
        client.users.block("")
    with pytest.raises(ValueError, match="must not be empty"):
        client.users.get_by_member_id("")
    with pytest.raises(TypeError, match="not a string"):
        client.users.patch("u1", tags="a,b")  # type: ignore[arg-type]
    assert len(requests) == 1


def test_non_finite_numbers_are_refused_before_sending(
    sent: tuple[Client, list[httpx.Request]],
) -> None:
    client, requests = sent
    with pytest.raises(ValueError, match="not JSON compliant"):
        client.users.patch("u1", profile={"score": float("nan")})
    assert requests == []


def test_user_keeps_unknown_fields_and_raw_json() -> None:
    raw = {
        **USER,
        "profile": {"name": "A"},
        "web": {"browserName": "Firefox"},
        "newThing": {"x": 1},
    }
    user = User.from_json(raw)
    assert user.raw is raw
    assert user.extra == {"newThing": {"x": 1}}
    assert user.web is not None and user.web.browser_name == "Firefox"
    assert user.profile == {"name": "A"}
    assert User(id="u", tags=["a"]).raw == {"id": "u", "tags": ["a"]}


def test_client_refuses_missing_credentials() -> None:
    with pytest.raises(ValueError, match="required"):
        Client("", "secret")
    with pytest.raises(ValueError, match="max_retries"):
        Client("key", "secret", max_retries=-1)


# Against the real server


@pytest.fixture
def client(live_server: Any) -> Iterator[Client]:
    with Client(live_server.access_key, live_server.access_secret, live_server.base_url) as client:
        yield client


@pytest.fixture
async def aclient(live_server: Any) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(live_server.access_key, live_server.access_secret, live_server.base_url) as client:
        yield client


def test_upsert_creates_a_member_readable_both_ways(client: Client, live_server: Any) -> None:
    member_id = "member 1 @home?#%ü"
    user = client.users.upsert(
        member_id,
        profile={"name": "Ada", "mobileNumber": "+8201012345678", "visits": 3, "vip": True},
        tags=[" VIP ", "vip", "b"],
    )
    assert user.member_id == member_id
    assert user.channel_id == live_server.channel_id
    assert user.type == "member" and user.member is True and user.named is True
    assert user.name == "Ada"
    assert user.mobile_number == "+821012345678"
    assert user.profile is not None and user.profile["visits"] == 3 and user.profile["vip"] is True
    assert sorted(user.tags or []) == ["b", "vip"]
    assert user.version == 1
    assert isinstance(user.created_at, int)
    assert user.extra == {}
    assert client.users.get(user.id) == user
    assert client.users.get_by_member_id(member_id) == user

    again = client.users.upsert(member_id, profile={"visits": 4})
    assert again.id == user.id
    assert again.version == 2
    assert again.profile is not None and again.profile["visits"] == 4 and again.name == "Ada"


def test_patch_null_removes_and_left_out_keeps(client: Client) -> None:
    lead = client.users.create_lead({"name": "Bo", "city": "Seoul", "plan": "free"})
    user = client.users.patch(lead.id, profile={"city": None}, tags=["a"])
    assert user.profile == {"name": "Bo", "plan": "free"}
    assert user.tags == ["a"]

    user = client.users.patch(lead.id, unsubscribe_email=True)
    assert user.profile == {"name": "Bo", "plan": "free"}
    assert user.tags == ["a"]
    assert user.unsubscribe_email is True
    assert user.unsubscribe_email_updated_at is not None

    user = client.users.patch(lead.id, tags=None)
    assert user.tags in (None, [])
    user = client.users.patch(lead.id, profile=None)
    assert not user.profile
    assert user.name is None


def test_patch_profile_once_sets_only_absent_keys(client: Client) -> None:
    lead = client.users.create_lead({"name": "Cy"})
    user = client.users.patch(lead.id, profile_once={"name": "Other", "source": "ad"})
    assert user.profile == {"name": "Cy", "source": "ad"}


def test_patch_if_match_stale_version_is_412(client: Client) -> None:
    lead = client.users.create_lead({"name": "Di"})
    assert client.users.patch(lead.id, profile={"a": 1}, if_match=1).version == 2
    with pytest.raises(PreconditionFailedError) as info:
        client.users.patch(lead.id, profile={"a": 2}, if_match=1)
    assert info.value.status == 412
    assert info.value.type == "precondition_failed"
    assert client.users.get(lead.id).profile == {"name": "Di", "a": 1}


def test_create_lead_answers_a_lead(client: Client) -> None:
    lead = client.users.create_lead({"email": "eve@example.com", "landlineNumber": "+18004424000"})
    assert lead.type == "lead"
    assert lead.member is False
    assert lead.member_id is None
    assert lead.email == "eve@example.com" and lead.email_qualified is True
    assert lead.landline_number == "+18004424000"
    assert len(lead.id) == 20


def test_block_unblock_touch(client: Client) -> None:
    lead = client.users.create_lead({"name": "Fay"})
    assert client.users.block(lead.id).blocked is True
    assert client.users.unblock(lead.id).blocked is False
    touched = client.users.touch(lead.id)
    assert touched.sessions_count == (lead.sessions_count or 0) + 1
    assert touched.last_seen_at is not None


def test_delete_and_delete_by_member_id(client: Client) -> None:
    lead = client.users.create_lead({"name": "Gil"})
    assert client.users.delete(lead.id) is None
    with pytest.raises(NotFoundError):
        client.users.get(lead.id)
    member = client.users.upsert("m-del", profile={"name": "Hal"})
    assert client.users.delete_by_member_id("m-del") is None
    with pytest.raises(NotFoundError) as info:
        client.users.get(member.id)
    assert info.value.type == "not_found"
    with pytest.raises(NotFoundError):
        client.users.delete(member.id)


def test_invalid_input_is_a_bad_request_with_every_field(client: Client) -> None:
    lead = client.users.create_lead({"name": "Ivy"})
    with pytest.raises(BadRequestError) as info:
        client.users.patch(lead.id, profile={"mobileNumber": "not a number"}, tags=["ok", ""])
    error = info.value
    assert error.status == 400 and error.type == "bad_request"
    assert set(error.field_errors) >= {"profile.mobileNumber", "tags[1]"}
    assert client.users.get(lead.id).version == lead.version


def test_wrong_secret_is_an_authentication_error(live_server: Any) -> None:
    with (
        Client(live_server.access_key, "wrong", live_server.base_url) as client,
        pytest.raises(AuthenticationError) as info,
    ):
        client.users.get("5f0c1435e68c92da02fd")
    assert info.value.status == 401 and info.value.type == "unauthorized"


def test_unknown_user_is_not_found(client: Client) -> None:
    with pytest.raises(NotFoundError) as info:
        client.users.get("5f0c1435e68c92da02fd")
    assert info.value.request.url.path == "/open/v5/users/5f0c1435e68c92da02fd"
    with pytest.raises(NotFoundError):
        client.users.get_by_member_id("nobody")


def test_closed_port_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        Client("k", "s", f"http://127.0.0.1:{port}", max_retries=0) as client,
        pytest.raises(TransportError) as info,
    ):
        client.users.get("5f0c1435e68c92da02fd")
    assert isinstance(info.value.__cause__, httpx.ConnectError)


async def test_async_every_method(aclient: AsyncClient, live_server: Any) -> None:
    member = await aclient.users.upsert("async-1", profile={"name": "Jo"}, tags=["x"])
    assert member.type == "member" and member.channel_id == live_server.channel_id
    assert await aclient.users.get(member.id) == member
    assert await aclient.users.get_by_member_id("async-1") == member

    patched = await aclient.users.patch(member.id, profile={"name": None, "age": 30}, tags=None)
    assert patched.profile == {"age": 30} and patched.named is False
    assert patched.tags in (None, [])

    assert (await aclient.users.block(member.id)).blocked is True
    assert (await aclient.users.unblock(member.id)).blocked is False
    assert (await aclient.users.touch(member.id)).sessions_count == (member.sessions_count or 0) + 1

    lead = await aclient.users.create_lead({"name": "Kim"})
    assert lead.type == "lead"
    assert (await aclient.request("GET", f"/open/v5/users/{lead.id}"))["user"] == lead.raw
    assert await aclient.users.delete(lead.id) is None
    assert await aclient.users.delete_by_member_id("async-1") is None
    for user_id in (lead.id, member.id):
        with pytest.raises(NotFoundError):
            await aclient.users.get(user_id)


async def test_async_errors(aclient: AsyncClient) -> None:
    lead = await aclient.users.create_lead({"name": "Lu"})
    with pytest.raises(BadRequestError) as info:
        await aclient.users.patch(lead.id, profile={"nested": {"no": 1}})  # type: ignore[dict-item]
    assert "profile.nested" in info.value.field_errors
    with pytest.raises(NotFoundError):
        await aclient.users.touch("5f0c1435e68c92da02fd")


async def test_async_delete_if_match_stale_version_is_412(aclient: AsyncClient) -> None:
    lead = await aclient.users.create_lead({"name": "Nia"})
    with pytest.raises(PreconditionFailedError):
        await aclient.users.delete(lead.id, if_match=99)
    assert (await aclient.users.get(lead.id)).id == lead.id


def test_request_reaches_other_endpoints(client: Client, live_server: Any) -> None:
    lead = client.users.create_lead({"name": "Mo"})
    answer = client.request("get", f"/open/v5/users/{lead.id}")
    assert answer["user"]["id"] == lead.id
    assert answer["user"] == client.users.get(lead.id).raw
