"""User events and tokens (SPEC section 2): HTTP in, rules from `events.py` / `tokens.py`, store out."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from . import events, tokens, validation
from .bodies import read_json
from .endpoints import EMPTY_OBJECT, JSON, Call
from .errors import NotFound
from .ids import is_id, now_ms
from .routing import Router


def _user_id(user_id: str) -> str:
    if not is_id(user_id):
        raise NotFound("user not found")
    return user_id


async def create_event(call: Call, userId: str) -> dict[str, Any]:
    user_id = _user_id(userId)
    event = events.new_event(await read_json(call.request), call.channel_id, user_id, now_ms())
    if not await call.store.insert_event(call.channel_id, event):
        raise NotFound("user not found")
    return {"event": event}


async def list_events(call: Call, userId: str) -> dict[str, Any]:
    user_id = _user_id(userId)
    page = events.page_request(dict(call.request.query_params))
    rows = await call.store.list_events(call.channel_id, user_id, page)
    if rows is None:
        raise NotFound("user not found")
    return events.page_view(page, rows)


async def delete_event(call: Call, userId: str, eventId: str) -> Response:
    user_id = _user_id(userId)
    if not is_id(eventId) or not await call.store.delete_event(call.channel_id, user_id, eventId):
        raise NotFound("event not found")
    return Response(EMPTY_OBJECT, media_type=JSON)


async def _user(call: Call, user_id: str | None, member_id: str | None) -> dict[str, Any]:
    if user_id is not None:
        stored = await call.store.get_user(call.channel_id, _user_id(user_id))
    else:
        assert member_id is not None
        stored = await call.store.get_member(call.channel_id, validation.member_id(member_id))
    if stored is None:
        raise NotFound("user not found")
    user: dict[str, Any] = msgspec.json.decode(stored.doc)
    return user


async def issue_user_token(call: Call, userId: str) -> dict[str, Any]:
    user = await _user(call, userId, None)
    return tokens.user_token(await call.store.signing_key(call.channel_id), user)


async def issue_member_token(call: Call, memberId: str) -> dict[str, Any]:
    user = await _user(call, None, memberId)
    return tokens.user_token(await call.store.signing_key(call.channel_id), user)


async def issue_session_jwt(call: Call, memberId: str) -> dict[str, Any]:
    seconds = tokens.duration_seconds(call.request.query_params.get("expiration"))
    member = await _user(call, None, memberId)
    return tokens.session_jwt(await call.store.signing_key(call.channel_id), member, seconds)


def add_event_routes(router: Router) -> None:
    router.add("users/{userId}/events", GET=list_events, POST=create_event)
    router.add("users/{userId}/events/{eventId}", DELETE=delete_event)
    router.add("users/{userId}/user-token/issue", PUT=issue_user_token)
    router.add("users/@{memberId}/user-token/issue", PUT=issue_member_token)
    router.add("users/@{memberId}/session-jwt/issue", PUT=issue_session_jwt)
