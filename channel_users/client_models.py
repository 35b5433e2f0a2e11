"""Typed results of the client: the user as upstream's `open.OpenApiUserDto` describes it.

Every field of that schema is an attribute in snake_case (`channelId` is `channel_id`); a field
the answer left out is None. Fields the schema does not know (added upstream later) are kept in
`User.extra`, and the user object exactly as received is `User.raw`.
"""

from __future__ import annotations

import enum
from typing import Any

import msgspec

#: A profile value as the API takes it; None (JSON null) removes the key on PATCH / PUT.
ProfileValue = str | int | float | bool | None


class Unset(enum.Enum):
    """Type of UNSET, the default of keyword arguments that are not sent unless given."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


#: Default of `profile`, `profile_once` and `tags`: leaves the key out (None sends null).
UNSET = Unset.UNSET


class WebInfo(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Upstream's `WebInfo`: the user's last web session."""

    device: str | None = None
    os: str | None = None
    os_name: str | None = None
    browser: str | None = None
    browser_name: str | None = None
    sessions_count: int | None = None
    last_seen_at: int | None = None


class MobileInfo(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True):
    """Upstream's `MobileInfo`: the user's last app session."""

    device: str | None = None
    os: str | None = None
    os_name: str | None = None
    app_name: str | None = None
    app_version: str | None = None
    sdk_name: str | None = None
    sdk_version: str | None = None
    sessions_count: int | None = None
    last_seen_at: int | None = None


class User(msgspec.Struct, rename="camel", kw_only=True, omit_defaults=True, dict=True):
    """A user; timestamps are epoch milliseconds. Build one with `User.from_json`."""

    id: str
    channel_id: str | None = None
    member_id: str | None = None
    veil_id: str | None = None
    unified_id: str | None = None
    type: str | None = None
    profile: dict[str, Any] | None = None
    tags: list[str] | None = None
    user_import_tags: list[str] | None = None
    name: str | None = None
    email: str | None = None
    avatar_url: str | None = None
    mobile_number: str | None = None
    landline_number: str | None = None
    named: bool | None = None
    member: bool | None = None
    email_qualified: bool | None = None
    mobile_number_qualified: bool | None = None
    constrainted: bool | None = None  # sic: upstream's spelling
    blocked: bool | None = None
    blocked_key: str | None = None
    managed_key: int | None = None
    unsubscribe_email: bool | None = None
    unsubscribe_email_updated_at: int | None = None
    unsubscribe_texting: bool | None = None
    unsubscribe_texting_updated_at: int | None = None
    unsubscribe_app_push: bool | None = None
    unsubscribe_app_push_updated_at: int | None = None
    language: str | None = None
    system_language: str | None = None
    country: str | None = None
    time_zone: str | None = None
    province: str | None = None
    city: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    alert: int | None = None
    unread: int | None = None
    pop_up_chat_id: str | None = None
    main_chat_id: str | None = None
    has_chat: bool | None = None
    has_push_token: bool | None = None
    web: WebInfo | None = None
    mobile: MobileInfo | None = None
    sessions_count: int | None = None
    last_seen_at: int | None = None
    created_at: int | None = None
    updated_at: int | None = None
    version: int | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> User:
        """The user for a decoded JSON object; raises msgspec.ValidationError if a known field has
        the wrong type."""
        user = msgspec.convert(raw, cls)
        user.__dict__["_raw"] = raw
        return user

    @property
    def raw(self) -> dict[str, Any]:
        """The user object as received (or, for one built in code, its fields that are not None)."""
        raw: dict[str, Any] | None = self.__dict__.get("_raw")
        if raw is None:
            built: dict[str, Any] = msgspec.to_builtins(self)
            return built
        return raw

    @property
    def extra(self) -> dict[str, Any]:
        """Fields of the answer that this class does not model, by their JSON name."""
        known = {f.encode_name for f in msgspec.structs.fields(self)}
        return {key: value for key, value in self.raw.items() if key not in known}
