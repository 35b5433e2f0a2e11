"""How the `users` commands read arguments: `KEY=VALUE` profile entries, tag lists, `@MEMBER`."""

from __future__ import annotations

import json
from typing import Any

import click

from channel_users.client_models import ProfileValue


def _refuse_constant(name: str) -> None:
    # NaN and Infinity are not JSON numbers; such a value stays the text it is.
    raise ValueError(name)


def parse_value(text: str) -> ProfileValue:
    """A profile value: the JSON scalar `text` spells (number, true, false, null, "string"), else
    `text` itself. Raises ValueError for a JSON array or object, which profiles cannot hold."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return text
    if isinstance(value, list | dict):
        raise ValueError("profile values are strings, numbers, booleans or null, not arrays or objects")
    result: ProfileValue = value
    return result


class KeyValue(click.ParamType[tuple[str, ProfileValue], str]):
    """`KEY=VALUE` as a (key, value) pair, the value read by `parse_value`."""

    name = "KEY=VALUE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[str, ProfileValue]:
        if isinstance(value, tuple):
            return value
        key, sep, text = str(value).partition("=")
        if not sep or not key:
            self.fail(f"{value!r} is not KEY=VALUE", param, ctx)
        try:
            return key, parse_value(text)
        except ValueError as exc:
            self.fail(f"{key}: {exc}", param, ctx)


KEY_VALUE = KeyValue()


def parse_tags(text: str) -> list[str]:
    """A comma-separated tag list; blanks around tags are dropped and '' is the empty list."""
    return [tag.strip() for tag in text.split(",") if tag.strip()]


def member_ref(ref: str) -> str | None:
    """The memberId of an `@MEMBER` reference (one leading @ removed); None for a user id."""
    return ref[1:] if ref.startswith("@") else None
