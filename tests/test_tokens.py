"""User tokens and session JWTs: answers, claims, verification with the channel's key, expiry."""

from __future__ import annotations

from typing import Any

import httpx
import jwt
import pytest

from channel_users import tokens
from channel_users.errors import BadRequest
from channel_users.store import Credentials, Store, open_store

from .upstream_schemas import validate


async def member(api: httpx.AsyncClient, member_id: str = "m1") -> dict[str, Any]:
    r = await api.put(f"/open/v5/users/@{member_id}", json={"profile": {"name": "Kim"}})
    assert r.status_code == 200, r.text
    user: dict[str, Any] = r.json()["user"]
    return user


def verify(token: str, key: bytes, audience: str, **options: Any) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, key, algorithms=["HS256"], audience=audience, issuer="channel-users", **options
    )
    return claims


async def test_user_token_by_id_and_member_id_verifies_with_the_channel_key(
    api: httpx.AsyncClient, store: Store, channel: Credentials
) -> None:
    user = await member(api)
    key = await store.signing_key(channel.channel_id)
    for path in (f"/open/v5/users/{user['id']}/user-token/issue", "/open/v5/users/@m1/user-token/issue"):
        r = await api.put(path)
        assert r.status_code == 200, r.text
        validate("open.EntityTokenView", r.json())
        assert set(r.json()) == {"token", "disableAt"}
        claims = verify(r.json()["token"], key, tokens.USER_TOKEN_AUDIENCE)
        assert claims["sub"] == user["id"]
        assert claims["channelId"] == channel.channel_id
        assert claims["memberId"] == "m1"
        assert claims["exp"] - claims["iat"] == 30 * 24 * 3600
        assert r.json()["disableAt"] == claims["exp"] * 1000


async def test_user_token_of_a_lead_has_no_member_id(
    api: httpx.AsyncClient, store: Store, channel: Credentials
) -> None:
    r = await api.post("/open/v5/users", json={"profile": {"name": "Lee"}})
    lead = r.json()["user"]
    r = await api.put(f"/open/v5/users/{lead['id']}/user-token/issue")
    claims = verify(
        r.json()["token"], await store.signing_key(channel.channel_id), tokens.USER_TOKEN_AUDIENCE
    )
    assert claims["sub"] == lead["id"] and "memberId" not in claims


@pytest.mark.parametrize(
    ("expiration", "seconds"), [(None, 60), ("PT1M", 60), ("PT36H", 129600), ("P30D", 2592000)]
)
async def test_session_jwt_lasts_its_expiration(
    api: httpx.AsyncClient, store: Store, channel: Credentials, expiration: str | None, seconds: int
) -> None:
    user = await member(api)
    params = {"expiration": expiration} if expiration else {}
    r = await api.put("/open/v5/users/@m1/session-jwt/issue", params=params)
    assert r.status_code == 200, r.text
    validate("open.UserTokenView", r.json())
    key = await store.signing_key(channel.channel_id)
    claims = verify(r.json()["sessionJWT"], key, tokens.SESSION_AUDIENCE)
    assert (claims["sub"], claims["memberId"], claims["channelId"]) == (user["id"], "m1", channel.channel_id)
    assert claims["exp"] - claims["iat"] == seconds
    assert r.json()["expiresAt"] == claims["exp"] * 1000


async def test_session_jwt_expires(api: httpx.AsyncClient, store: Store, channel: Credentials) -> None:
    await member(api)
    r = await api.put("/open/v5/users/@m1/session-jwt/issue", params={"expiration": "PT1M"})
    token = r.json()["sessionJWT"]
    key = await store.signing_key(channel.channel_id)
    claims = jwt.decode(token, options={"verify_signature": False})
    # A negative leeway moves the verifier's clock forward (iat is then in its past, not checked):
    # still valid shortly before exp, expired after it.
    lifetime = claims["exp"] - claims["iat"]
    late = {"options": {"verify_iat": False}}
    verify(token, key, tokens.SESSION_AUDIENCE, leeway=-(lifetime - 5), **late)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token, key, tokens.SESSION_AUDIENCE, leeway=-(lifetime + 1), **late)


async def test_tokens_do_not_verify_with_another_channels_key_or_audience(
    api: httpx.AsyncClient, store: Store, channel: Credentials, other_channel: Credentials
) -> None:
    await member(api)
    r = await api.put("/open/v5/users/@m1/session-jwt/issue")
    token = r.json()["sessionJWT"]
    other_key = await store.signing_key(other_channel.channel_id)
    assert other_key != await store.signing_key(channel.channel_id)
    with pytest.raises(jwt.InvalidSignatureError):
        verify(token, other_key, tokens.SESSION_AUDIENCE)
    with pytest.raises(jwt.InvalidAudienceError):
        verify(token, await store.signing_key(channel.channel_id), tokens.USER_TOKEN_AUDIENCE)


async def test_signing_key_is_stored_once_per_channel(
    database_url: str, store: Store, channel: Credentials
) -> None:
    key = await store.signing_key(channel.channel_id)
    assert len(key) == 32
    second = open_store(database_url)
    await second.open()
    try:
        assert await second.signing_key(channel.channel_id) == key
    finally:
        await second.close()


@pytest.mark.parametrize(
    "expiration", ["PT59S", "P31D", "P30DT1S", "1 day", "P1M", "PT", "P", "P1DT", "-PT5M"]
)
async def test_session_jwt_refuses_a_bad_expiration(api: httpx.AsyncClient, expiration: str) -> None:
    await member(api)
    r = await api.put("/open/v5/users/@m1/session-jwt/issue", params={"expiration": expiration})
    assert r.status_code == 400
    [error] = r.json()["errors"]
    assert error["field"] == "expiration"
    assert error["message"] in (
        "must be an ISO-8601 duration such as PT1M, PT12H or P30D",
        "must be between PT1M and P30D",
    )


async def test_tokens_of_absent_users_are_not_found(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> None:
    user = await member(api)
    for client, path in (
        (api, "/open/v5/users/@nobody/session-jwt/issue"),
        (api, "/open/v5/users/@nobody/user-token/issue"),
        (api, f"/open/v5/users/{'0' * 20}/user-token/issue"),
        (other_api, f"/open/v5/users/{user['id']}/user-token/issue"),
        (other_api, "/open/v5/users/@m1/session-jwt/issue"),
    ):
        r = await client.put(path)
        assert r.status_code == 404, path
        assert r.json()["errors"] == [{"message": "user not found"}]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT1M", 60), ("PT60S", 60), ("PT1H30M", 5400), ("P1W", 604800), ("P1DT12H", 129600), ("P30D", 2592000)],
)
def test_duration_seconds(text: str, seconds: int) -> None:
    assert tokens.duration_seconds(text) == seconds


def test_duration_seconds_limits_are_inclusive() -> None:
    with pytest.raises(BadRequest) as error:
        tokens.duration_seconds("PT59.9S")
    assert error.value.errors[0].message == "must be between PT1M and P30D"
    assert tokens.duration_seconds("PT720H") == 2592000
