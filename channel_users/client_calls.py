"""What each user operation sends and how its answer is read, shared by Client and AsyncClient.

No I/O here: `Call` describes one request; `decode` turns an answer into JSON or raises the right
ClientError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import msgspec

from channel_users.client_errors import (
    DecodeError,
    FieldError,
    RateLimitError,
    StatusError,
    error_class,
)
from channel_users.client_models import UNSET, ProfileValue, Unset, User
from channel_users.client_retry import retry_after

USERS = "/open/v5/users"

Profile = Mapping[str, ProfileValue]


@dataclass(frozen=True)
class Call:
    """One request: method, path below the base URL, JSON body (None: none), If-Match version."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    if_match: int | None = None


def user_path(user_id: str) -> str:
    """`/open/v5/users/{userId}`; raises ValueError for an empty id or one read as a memberId."""
    if not user_id:
        raise ValueError("user_id must not be empty")
    if user_id.startswith("@"):
        # Upstream routes `/users/@...` as a memberId, so such an id would address another user.
        raise ValueError("user_id must not start with '@'; use the member_id methods")
    return f"{USERS}/{quote(user_id, safe='')}"


def member_path(member_id: str) -> str:
    """`/open/v5/users/@{memberId}` with the memberId percent-encoded, `/` and `@` included."""
    if not member_id:
        raise ValueError("member_id must not be empty")
    return f"{USERS}/@{quote(member_id, safe='')}"


def update_body(
    *,
    profile: Profile | Unset | None,
    profile_once: Profile | Unset | None,
    tags: Sequence[str] | Unset | None,
    unsubscribe_email: bool | None,
    unsubscribe_texting: bool | None,
    blocked: bool | None,
    language: str | None,
) -> dict[str, Any]:
    """The PATCH / PUT body: UNSET leaves a key out, None sends null; booleans and language are sent
    only when not None (null has no meaning for them)."""
    if isinstance(tags, str):
        raise TypeError("tags must be a sequence of strings, not a string")
    body: dict[str, Any] = {}
    if profile is not UNSET:
        body["profile"] = None if profile is None else dict(profile)
    if profile_once is not UNSET:
        body["profileOnce"] = None if profile_once is None else dict(profile_once)
    if tags is not UNSET:
        body["tags"] = None if tags is None else list(tags)
    for key, flag in (
        ("unsubscribeEmail", unsubscribe_email),
        ("unsubscribeTexting", unsubscribe_texting),
        ("blocked", blocked),
    ):
        if flag is not None:
            body[key] = flag
    if language is not None:
        body["language"] = language
    return body


def decode(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a success answers with; raises the StatusError for an error status,
    DecodeError for a success whose body is not a JSON object."""
    if response.is_success:
        try:
            data = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            data = None
        if not isinstance(data, dict):
            raise DecodeError(
                f"expected a JSON object in the {response.status_code} answer",
                request=response.request,
                response=response,
                status=response.status_code,
            )
        return data
    raise status_error(response)


def status_error(response: httpx.Response) -> StatusError:
    """The error for an error answer, read from its `{"type", "status", "errors"}` body when it has
    one."""
    status = response.status_code
    error_type: str | None = None
    errors: list[FieldError] = []
    try:
        data = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        data = None
    if isinstance(data, dict):
        if isinstance(data.get("type"), str):
            error_type = data["type"]
        for item in data.get("errors") or []:
            if isinstance(item, dict) and isinstance(item.get("message"), str):
                field = item.get("field")
                errors.append(FieldError(item["message"], field if isinstance(field, str) else None))
        if not errors and isinstance(data.get("message"), str):
            errors.append(FieldError(data["message"]))
    if not errors:
        errors.append(FieldError(response.text.strip()[:200] or response.reason_phrase or "error"))
    cls = error_class(status)
    error = cls(
        "; ".join(str(e) for e in errors),
        request=response.request,
        response=response,
        status=status,
        type=error_type,
        errors=errors,
    )
    if isinstance(error, RateLimitError):
        error.retry_after = retry_after(response)
    return error


def user_of(data: dict[str, Any], response: httpx.Response) -> User:
    """The `user` of a `{"user": {...}}` answer; raises DecodeError if it is missing or mistyped."""
    raw = data.get("user")
    try:
        if not isinstance(raw, dict):
            raise msgspec.ValidationError("expected an object at `$.user`")
        return User.from_json(raw)
    except msgspec.ValidationError as exc:
        raise DecodeError(
            f"unexpected user in the answer: {exc}",
            request=response.request,
            response=response,
            status=response.status_code,
        ) from exc
