"""The user and channel operations of SPEC section 2: HTTP in, rules from `users.py`, store out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from . import users, validation
from .bodies import read_json
from .errors import NotFound
from .idempotency import user_answer
from .ids import is_id, now_ms
from .preconditions import guarded, version_check
from .routing import Router
from .store import Store, Stored
from .store.base import KeyUse
from .users import User

JSON = "application/json"
EMPTY_OBJECT = b"{}"


@dataclass(frozen=True)
class Call:
    """One authenticated request: what every handler receives."""

    request: Request
    store: Store
    channel_id: str
    key: KeyUse | None = None  # the request's claimed Idempotency-Key, for the store to record


def user_response(stored: Stored | None) -> Response:
    """`{"user": ...}` with an ETag of its version (our addition, SPEC section 7); 404 for None."""
    if stored is None:
        raise NotFound("user not found")
    answer = user_answer(stored)
    return Response(answer.body, media_type=JSON, headers=answer.headers)


def _user_id(user_id: str) -> str:
    if not is_id(user_id):  # cannot exist; answer as for any absent user
        raise NotFound("user not found")
    return user_id


async def get_user(call: Call, userId: str) -> Response:
    return user_response(await call.store.get_user(call.channel_id, _user_id(userId)))


async def get_member(call: Call, memberId: str) -> Response:
    member_id = validation.member_id(memberId)
    return user_response(await call.store.get_member(call.channel_id, member_id))


async def patch_user(call: Call, userId: str) -> Response:
    user_id = _user_id(userId)
    check = version_check(call.request)
    changes = validation.user_changes(await read_json(call.request))
    now = now_ms()
    stored = await call.store.update_user(
        call.channel_id,
        user_id,
        guarded(check, lambda user: users.apply_changes(user, changes, now)),
        call.key,
    )
    return user_response(stored)


async def upsert_member(call: Call, memberId: str) -> Response:
    member_id = validation.member_id(memberId)
    check = version_check(call.request)
    changes = validation.user_changes(await read_json(call.request))
    now = now_ms()

    def create() -> User:
        if check is not None:
            check(None)
        return users.created_user(call.channel_id, member_id, changes, now)

    stored = await call.store.upsert_member(
        call.channel_id,
        member_id,
        guarded(check, lambda user: users.apply_changes(user, changes, now)),
        create,
        call.key,
    )
    return user_response(stored)


async def create_lead(call: Call) -> Response:
    profile = validation.lead_profile(await read_json(call.request))
    changes = validation.UserChanges(profile=profile)
    user = users.created_user(call.channel_id, None, changes, now_ms())
    return user_response(await call.store.insert_user(call.channel_id, user, call.key))


def _deleted(found: bool) -> Response:
    if not found:
        raise NotFound("user not found")
    return Response(EMPTY_OBJECT, media_type=JSON)


async def delete_user(call: Call, userId: str) -> Response:
    user_id = _user_id(userId)
    check = version_check(call.request)
    return _deleted(await call.store.delete_user(call.channel_id, user_id, check))


async def delete_member(call: Call, memberId: str) -> Response:
    member_id = validation.member_id(memberId)
    check = version_check(call.request)
    return _deleted(await call.store.delete_member(call.channel_id, member_id, check))


async def _set_blocked(call: Call, user_id: str, blocked: bool) -> Response:
    now = now_ms()
    stored = await call.store.update_user(
        call.channel_id,
        _user_id(user_id),
        lambda user: users.set_blocked(user, blocked, now),
        call.key,
    )
    return user_response(stored)


async def block_user(call: Call, userId: str) -> Response:
    return await _set_blocked(call, userId, True)


async def unblock_user(call: Call, userId: str) -> Response:
    return await _set_blocked(call, userId, False)


async def touch_user(call: Call, userId: str) -> Response:
    now = now_ms()
    stored = await call.store.update_user(
        call.channel_id, _user_id(userId), lambda user: users.touch(user, now), call.key
    )
    return user_response(stored)


def channel_view(channel_id: str, name: str, created_at: int) -> dict[str, Any]:
    """Upstream's `desk.ChannelView`. Fields we do not model carry upstream's defaults, because
    upstream's `Channel` schema requires them."""
    return {
        "channel": {
            "id": channel_id,
            "name": name,
            "createdAt": created_at,
            "updatedAt": created_at,
            "botName": name,
            "color": "#123456",
            "timeZone": "UTC",
            "followUpEmail": False,
            "followUpTexting": False,
            "baseTutorialCompleted": True,
            "bizGrade": "unknown",
            "state": "active",
            "welcomeMessage": {"blocks": [{"type": "text", "value": f"Welcome to {name}"}]},
        }
    }


async def get_channel(call: Call) -> dict[str, Any]:
    channel = await call.store.get_channel(call.channel_id)
    if channel is None:  # the key outlived its channel
        raise NotFound("channel not found")
    return channel_view(channel.id, channel.name, channel.created_at)


def user_routes() -> Router:
    router = Router("/open/v5/")
    router.add("users", POST=create_lead)
    router.add("users/{userId}", GET=get_user, PATCH=patch_user, DELETE=delete_user)
    router.add("users/@{memberId}", GET=get_member, PUT=upsert_member, DELETE=delete_member)
    router.add("users/{userId}/block", POST=block_user, DELETE=unblock_user)
    router.add("users/{userId}/touch", POST=touch_user)
    router.add("channel", GET=get_channel)
    return router


__all__ = ["Call", "user_routes"]
