"""User events (SPEC sections 2 and 5): body validation, the stored shape, and cursor paging.

Pure functions only; the store keeps events in their own table, ordered by (createdAt, id).
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from .errors import BadRequest, FieldError
from .ids import new_id
from .validation import INT64, MAX_PROFILE_KEYS, PROFILE_KEY

Event = dict[str, Any]

MAX_NAME = 30
MAX_PROPERTY_BYTES = 512
DEFAULT_LIMIT = 25
MAX_LIMIT = 500
# Read-only fields of upstream's `Event` schema: accepted and ignored, like a user's read-only fields.
READ_ONLY: Final = frozenset(
    {"id", "userId", "channelId", "createdAt", "expireAt", "managed", "version", "nameI18nMap"}
)


def _property_value(value: Any, path: str, errors: list[FieldError]) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            errors.append(FieldError("must fit in a signed 64-bit integer", path))
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            errors.append(FieldError("must be a finite number", path))
        return value
    if isinstance(value, str):
        try:
            size = len(value.encode("utf-8"))
        except UnicodeEncodeError:
            errors.append(FieldError("must be valid Unicode (no lone surrogates)", path))
            return value
        if size > MAX_PROPERTY_BYTES:
            errors.append(FieldError(f"must be at most {MAX_PROPERTY_BYTES} bytes", path))
        return value
    errors.append(FieldError("must be a string, number, boolean or null", path))
    return None


def _property(value: Any, errors: list[FieldError]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(FieldError("must be an object", "property"))
        return {}
    if len(value) > MAX_PROFILE_KEYS:
        errors.append(FieldError(f"must have at most {MAX_PROFILE_KEYS} keys", "property"))
        return {}
    result: dict[str, Any] = {}
    for key, item in value.items():
        path = f"property.{key}"
        if not PROFILE_KEY.fullmatch(key):
            errors.append(FieldError("key must match ^[A-Za-z][A-Za-z0-9_]{0,63}$", path))
            continue
        checked = _property_value(item, path, errors)
        if checked is not None:  # a null property is left out, as null fields are everywhere
            result[key] = checked
    return result


def new_event(body: Any, channel_id: str, user_id: str, now: int) -> Event:
    """Validates a create-event body `{"name", "property"}` into the event to store.

    Raises BadRequest with every violation at once.
    """
    if not isinstance(body, dict):
        raise BadRequest(FieldError("request body must be a JSON object", "body"))
    errors = [
        FieldError("unknown field", key)
        for key in body
        if key not in READ_ONLY and key not in ("name", "property")
    ]
    name = body.get("name")
    if not isinstance(name, str):
        errors.append(FieldError("is required and must be a string", "name"))
    elif not 1 <= len(name) <= MAX_NAME:
        errors.append(FieldError(f"must be 1 to {MAX_NAME} characters", "name"))
    prop = _property(body.get("property"), errors)
    if errors:
        raise BadRequest(*errors)
    event: Event = {"id": new_id(), "channelId": channel_id, "userId": user_id, "name": name}
    if prop:
        event["property"] = prop
    event["createdAt"] = now
    return event


# --- paging --------------------------------------------------------------------------------------

Order = Literal["asc", "desc"]


@dataclass(frozen=True)
class Page:
    """One page request. `after` is the (createdAt, id) position the page starts beyond, in the
    direction of `order`; `backward` walks the other way (a `prev` cursor) and the store's rows
    are then reversed back into `order`."""

    order: Order
    limit: int
    after: tuple[int, str] | None = None
    backward: bool = False

    @property
    def scan_ascending(self) -> bool:
        """Whether the store reads rows in ascending (createdAt, id) order for this page."""
        return (self.order == "asc") != self.backward


def encode_cursor(event: Event, backward: bool) -> str:
    raw = msgspec.json.encode(["p" if backward else "n", event["createdAt"], event["id"]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(text: str) -> tuple[bool, int, str]:
    """(backward, createdAt, id) of a cursor; raises BadRequest naming `since`."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        kind, created_at, event_id = msgspec.json.decode(raw)
        if kind not in ("n", "p") or type(created_at) is not int or not isinstance(event_id, str):
            raise ValueError(kind)
    except (ValueError, TypeError, binascii.Error, msgspec.DecodeError):
        raise BadRequest(FieldError("is not a cursor this server issued", "since")) from None
    return kind == "p", created_at, event_id


def page_request(query: dict[str, str]) -> Page:
    """The page that a list request's query asks for. Raises BadRequest naming each bad field."""
    errors: list[FieldError] = []
    order = query.get("sortOrder")
    if order not in ("asc", "desc"):
        errors.append(FieldError("is required and must be asc or desc", "sortOrder"))
    limit = DEFAULT_LIMIT
    text = query.get("limit")
    if text is not None:
        if text.strip().lstrip("-").isdigit() and 1 <= int(text) <= MAX_LIMIT:
            limit = int(text)
        else:
            errors.append(FieldError(f"must be an integer from 1 to {MAX_LIMIT}", "limit"))
    since = query.get("since")
    cursor = None
    if since:
        try:
            cursor = _decode_cursor(since)
        except BadRequest as error:
            errors.extend(error.errors)
    if errors:
        raise BadRequest(*errors)
    sort: Order = "asc" if order == "asc" else "desc"
    if cursor is None:
        return Page(sort, limit)
    backward, created_at, event_id = cursor
    return Page(sort, limit, (created_at, event_id), backward)


def page_view(page: Page, rows: list[Event]) -> dict[str, Any]:
    """`{"events", "next"?, "prev"?}` from the store's rows: up to `limit + 1` in scan order, the
    extra one only telling that more rows lie beyond."""
    more = len(rows) > page.limit
    events = rows[: page.limit]
    if page.backward:
        events.reverse()
    view: dict[str, Any] = {"events": events}
    if not events:
        return view
    # Forward: more after the page if the scan found more; before it if we started from a cursor.
    # Backward: the reverse.
    has_next = page.after is not None if page.backward else more
    has_prev = more if page.backward else page.after is not None
    if has_next:
        view["next"] = encode_cursor(events[-1], backward=False)
    if has_prev:
        view["prev"] = encode_cursor(events[0], backward=True)
    return view
