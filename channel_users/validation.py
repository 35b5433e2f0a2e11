"""Validation of request bodies into `UserChanges`, collecting every violation with its field path.

Nothing here touches storage: a body either becomes a complete `UserChanges` or raises `BadRequest`
with all of its field errors at once, so a request is never half-applied.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Final

from . import contacts
from .errors import BadRequest, FieldError

PROFILE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,3}")
MAX_STRING = 1024
MAX_PROFILE_KEYS = 500
MAX_TAGS = 20
MAX_TAG_LENGTH = 50
INT64 = (-(2**63), 2**63 - 1)
INT32 = (-(2**31), 2**31 - 1)

PHONE_KEYS: Final = ("mobileNumber", "landlineNumber")
# Typed keys of upstream's `profile.UserProfileMap`.
STRING_KEYS: Final = frozenset({"name", "email", "avatarUrl", "firstName", "lastName", *PHONE_KEYS})
# Writable fields of a PATCH / PUT body; everything else of upstream's user schemas is read-only.
WRITABLE: Final = frozenset(
    {
        "profile",
        "profileOnce",
        "tags",
        "unsubscribeEmail",
        "unsubscribeTexting",
        "blocked",
        "language",
    }
)
# Read-only fields of upstream's `user.User` and `open.OpenApiUserDto`: accepted and ignored so that a
# client may send back a user it read.
READ_ONLY: Final = frozenset(
    {
        "id",
        "channelId",
        "memberId",
        "veilId",
        "unifiedId",
        "type",
        "name",
        "mobileNumberQualified",
        "emailQualified",
        "userImportTags",
        "blockedKey",
        "managedKey",
        "unsubscribeEmailUpdatedAt",
        "unsubscribeTextingUpdatedAt",
        "unsubscribeAppPush",
        "unsubscribeAppPushUpdatedAt",
        "hasChat",
        "hasPushToken",
        "country",
        "timeZone",
        "province",
        "provinceCode",
        "city",
        "latitude",
        "longitude",
        "web",
        "mobile",
        "sessionsCount",
        "lastSeenAt",
        "createdAt",
        "updatedAt",
        "version",
        "named",
        "member",
        "email",
        "mobileNumber",
        "avatarUrl",
        "landlineNumber",
        "constrainted",
        "systemLanguage",
        "alert",
        "unread",
        "popUpChatId",
        "mainChatId",
    }
)


class Missing:
    """The type of `MISSING`: a field the request did not mention (unlike an explicit null)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = Missing()

ProfileValue = str | int | float | bool | None


@dataclass(frozen=True)
class UserChanges:
    """A validated PATCH / PUT body. `MISSING` means "leave as is"; `profile=None` clears it."""

    profile: dict[str, ProfileValue] | Missing | None = MISSING
    profile_once: dict[str, ProfileValue] | Missing = MISSING
    tags: list[str] | Missing = MISSING
    unsubscribe_email: bool | Missing = MISSING
    unsubscribe_texting: bool | Missing = MISSING
    blocked: bool | Missing = MISSING
    language: str | Missing = MISSING


@dataclass
class _Errors:
    items: list[FieldError] = field(default_factory=list)

    def add(self, field_path: str, message: str) -> None:
        self.items.append(FieldError(message, field_path))

    def raise_any(self) -> None:
        if self.items:
            raise BadRequest(*self.items)


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check_string(value: str, path: str, errors: _Errors, limit: int = MAX_STRING) -> bool:
    if len(value) > limit:
        errors.add(path, f"must be at most {limit} characters")
        return False
    if _has_lone_surrogate(value):
        errors.add(path, "must be valid Unicode (no lone surrogates)")
        return False
    return True


def _profile_value(key: str, value: Any, path: str, errors: _Errors) -> ProfileValue:
    """Checks one profile value; returns it normalised (E.164 for phone numbers)."""
    if value is None:
        return None
    if key in STRING_KEYS:
        if not isinstance(value, str):
            errors.add(path, "must be a string")
            return None
        if not _check_string(value, path, errors):
            return None
        if key in PHONE_KEYS:
            e164 = contacts.normalize_phone(value)
            if e164 is None:
                errors.add(path, "must be an international phone number starting with +")
            return e164
        return value
    if key == "recentPurchaseCount":
        if isinstance(value, bool) or not isinstance(value, int):
            errors.add(path, "must be an integer")
        elif not INT32[0] <= value <= INT32[1]:
            errors.add(path, "must fit in a signed 32-bit integer")
        return value  # type: ignore[no-any-return]
    if key == "recentPurchaseAmount" and (isinstance(value, bool) or not isinstance(value, int | float)):
        errors.add(path, "must be a number")
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            errors.add(path, "must fit in a signed 64-bit integer")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            errors.add(path, "must be a finite number")
        return value
    if isinstance(value, str):
        _check_string(value, path, errors)
        return value
    errors.add(path, "must be a string, number, boolean or null")
    return None


def _profile(body_key: str, value: Any, errors: _Errors) -> dict[str, ProfileValue] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        errors.add(body_key, "must be an object")
        return None
    if len(value) > MAX_PROFILE_KEYS:
        errors.add(body_key, f"must have at most {MAX_PROFILE_KEYS} keys")
        return None
    result: dict[str, ProfileValue] = {}
    for key, item in value.items():
        path = f"{body_key}.{key}"
        if not PROFILE_KEY.fullmatch(key):
            errors.add(path, "key must match ^[A-Za-z][A-Za-z0-9_]{0,63}$")
            continue
        result[key] = _profile_value(key, item, path, errors)
    return result


def _tags(value: Any, errors: _Errors) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add("tags", "must be an array of strings or null")
        return []
    tags: dict[str, None] = {}  # a dict keeps first-seen order while collapsing duplicates
    for index, item in enumerate(value):
        path = f"tags[{index}]"
        if not isinstance(item, str):
            errors.add(path, "must be a string")
            continue
        tag = item.strip().lower()
        if not tag:
            errors.add(path, "must not be empty")
        elif _check_string(tag, path, errors, MAX_TAG_LENGTH):
            tags[tag] = None
    if len(tags) > MAX_TAGS:
        errors.add("tags", f"must have at most {MAX_TAGS} distinct tags")
    return list(tags)


def _flag(name: str, value: Any, errors: _Errors) -> bool | Missing:
    if value is None:  # upstream's boxed Boolean: null means "not given"
        return MISSING
    if not isinstance(value, bool):
        errors.add(name, "must be a boolean")
        return MISSING
    return value


def _language(value: Any, errors: _Errors) -> str | Missing:
    if value is None:
        return MISSING
    if not isinstance(value, str) or not LANGUAGE.fullmatch(value):
        errors.add("language", "must be a language tag such as en or ko")
        return MISSING
    return value


def user_changes(body: Any) -> UserChanges:
    """Validates a PATCH / PUT body. Raises BadRequest with every violation at once."""
    errors = _Errors()
    if not isinstance(body, dict):
        raise BadRequest(FieldError("request body must be a JSON object", "body"))
    for key in body:
        if key not in WRITABLE and key not in READ_ONLY:
            errors.add(key, "unknown field")
    changes: dict[str, Any] = {}
    if "profile" in body:
        changes["profile"] = _profile("profile", body["profile"], errors)
    if body.get("profileOnce") is not None:
        changes["profile_once"] = _profile("profileOnce", body["profileOnce"], errors)
    if "tags" in body:
        changes["tags"] = _tags(body["tags"], errors)
    for wire, name in (
        ("unsubscribeEmail", "unsubscribe_email"),
        ("unsubscribeTexting", "unsubscribe_texting"),
        ("blocked", "blocked"),
    ):
        if wire in body:
            changes[name] = _flag(wire, body[wire], errors)
    if "language" in body:
        changes["language"] = _language(body["language"], errors)
    errors.raise_any()
    return UserChanges(**changes)


def lead_profile(body: Any) -> dict[str, ProfileValue]:
    """Validates a create-lead body `{"profile": {...}}` with a non-empty profile."""
    errors = _Errors()
    if not isinstance(body, dict):
        raise BadRequest(FieldError("request body must be a JSON object", "body"))
    for key in body:
        if key != "profile":
            errors.add(key, "unknown field")
    profile = _profile("profile", body.get("profile"), errors)
    if not errors.items and not profile:
        errors.add("profile", "is required and must not be empty")
    errors.raise_any()
    assert profile is not None
    return profile


def member_id(text: str) -> str:
    """Validates a memberId taken from a path. Raises BadRequest naming `memberId`."""
    if not text:
        raise BadRequest(FieldError("must not be empty", "memberId"))
    if len(text) > 255:
        raise BadRequest(FieldError("must be at most 255 characters", "memberId"))
    if "/" in text or any(ord(c) < 32 or ord(c) == 127 for c in text) or text in {".", ".."}:
        raise BadRequest(FieldError("must not contain slashes or control characters", "memberId"))
    if _has_lone_surrogate(text):
        raise BadRequest(FieldError("must be valid Unicode", "memberId"))
    return text
