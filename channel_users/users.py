"""The user rules (SPEC section 3) as pure functions on the stored user.

A user is kept as the dict that goes on the wire (camelCase, null fields left out, keys in a fixed
order), so reading one is a copy of stored bytes. Every function here takes a user and returns a new
one, or None when nothing changed; none of them does I/O.
"""

from __future__ import annotations

from typing import Any

import msgspec

from . import contacts
from .errors import BadRequest, FieldError
from .ids import new_id
from .validation import MAX_PROFILE_KEYS, MISSING, Missing, ProfileValue, UserChanges

User = dict[str, Any]

# Field order of every user answer; mirrors the order of upstream's `open.OpenApiUserDto` loosely.
FIELD_ORDER = (
    "id",
    "channelId",
    "memberId",
    "type",
    "profile",
    "tags",
    "name",
    "email",
    "avatarUrl",
    "mobileNumber",
    "landlineNumber",
    "named",
    "member",
    "emailQualified",
    "mobileNumberQualified",
    "blocked",
    "unsubscribeEmail",
    "unsubscribeEmailUpdatedAt",
    "unsubscribeTexting",
    "unsubscribeTextingUpdatedAt",
    "language",
    "sessionsCount",
    "lastSeenAt",
    "createdAt",
    "updatedAt",
    "version",
)
# Top-level mirrors of profile keys (upstream's `OpenApiUserDto` repeats these beside `profile`).
MIRRORED = ("name", "email", "avatarUrl", "mobileNumber", "landlineNumber")
DEFAULT_LANGUAGE = "en"  # upstream's schema default for `language`


def _canonical(fields: dict[str, Any]) -> User:
    """Recomputes the derived fields and lays the user out in FIELD_ORDER, dropping nulls."""
    profile: dict[str, ProfileValue] = fields.get("profile") or {}
    derived = dict(fields)
    for key in MIRRORED:
        derived[key] = profile.get(key)
    email = derived["email"]
    mobile = derived["mobileNumber"]
    derived["profile"] = profile or None
    derived["tags"] = fields.get("tags") or None
    derived["type"] = "member" if fields.get("memberId") else "lead"
    derived["member"] = derived["type"] == "member"
    derived["named"] = "name" in profile
    derived["emailQualified"] = isinstance(email, str) and contacts.is_qualified_email(email)
    derived["mobileNumberQualified"] = isinstance(mobile, str) and contacts.is_mobile_number(mobile)
    return {key: derived[key] for key in FIELD_ORDER if derived.get(key) is not None}


def new_user(channel_id: str, now: int, member_id: str | None = None) -> User:
    """A user with no profile, at version 1."""
    return _canonical(
        {
            "id": new_id(),
            "channelId": channel_id,
            "memberId": member_id,
            "blocked": False,
            "unsubscribeEmail": False,
            "unsubscribeTexting": False,
            "language": DEFAULT_LANGUAGE,
            "sessionsCount": 0,
            "createdAt": now,
            "updatedAt": now,
            "version": 1,
        }
    )


def _merged_profile(
    current: dict[str, ProfileValue], changes: UserChanges
) -> dict[str, ProfileValue]:
    profile = dict(current)
    if changes.profile is None:
        profile = {}
    elif not isinstance(changes.profile, Missing):
        for key, value in changes.profile.items():
            if value is None:
                profile.pop(key, None)
            else:
                profile[key] = value
    if not isinstance(changes.profile_once, Missing):
        for key, value in changes.profile_once.items():
            if value is not None and key not in profile:
                profile[key] = value
    if len(profile) > MAX_PROFILE_KEYS:
        raise BadRequest(FieldError(f"a profile holds at most {MAX_PROFILE_KEYS} keys", "profile"))
    return profile


def _bumped(before: User, fields: dict[str, Any], now: int) -> User | None:
    """The new user with version + 1 and updatedAt = now, or None when nothing differs.

    Compared as JSON so that `1`, `1.0` and `true` count as different values.
    """
    after = _canonical(fields)
    if msgspec.json.encode(after) == msgspec.json.encode(before):
        return None
    after["updatedAt"] = now
    after["version"] = before["version"] + 1
    return after


def apply_changes(user: User, changes: UserChanges, now: int) -> User | None:
    """Applies a validated PATCH / PUT body atomically; returns the new user or None if unchanged.

    Raises BadRequest when the merged profile would exceed the key limit.
    """
    fields = dict(user)
    fields["profile"] = _merged_profile(user.get("profile", {}), changes)
    if changes.tags is not MISSING:
        fields["tags"] = changes.tags
    for wire, value in (
        ("unsubscribeEmail", changes.unsubscribe_email),
        ("unsubscribeTexting", changes.unsubscribe_texting),
    ):
        if value is not MISSING and value != user[wire]:
            fields[wire] = value
            fields[f"{wire}UpdatedAt"] = now
    if changes.blocked is not MISSING:
        fields["blocked"] = changes.blocked
    if changes.language is not MISSING:
        fields["language"] = changes.language
    return _bumped(user, fields, now)


def created_user(channel_id: str, member_id: str | None, changes: UserChanges, now: int) -> User:
    """A new user with `changes` applied, still at version 1: a member when `member_id` is given
    (PUT by memberId on an absent member), else a lead (POST /users)."""
    blank = new_user(channel_id, now, member_id)
    user = apply_changes(blank, changes, now) or blank
    user["version"] = 1
    return user


def set_blocked(user: User, blocked: bool, now: int) -> User | None:
    """Block or unblock; None when the user already is so."""
    return _bumped(user, {**user, "blocked": blocked}, now)


def touch(user: User, now: int) -> User:
    """A new session: `sessionsCount` + 1 and `lastSeenAt` = now (always a change)."""
    after = _bumped(
        user, {**user, "sessionsCount": user.get("sessionsCount", 0) + 1, "lastSeenAt": now}, now
    )
    assert after is not None
    return after
