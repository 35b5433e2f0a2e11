"""Reading a JSON request body within the limits of SPEC section 5 (415, 413, 400)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect, Request

from .errors import BadRequest, FieldError, PayloadTooLarge, UnsupportedMediaType

MAX_BODY = 1024 * 1024
MAX_DEPTH = 32  # deeper than any valid body (profile values are scalars); bounds the decoder's recursion

_decode = msgspec.json.decode
_encode = msgspec.json.encode
_RAW_BODY = "channel_users.raw_body"


def _is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json"


async def raw_body(request: Request) -> bytes:
    """The body's bytes, read once and at most MAX_BODY of them. Raises PayloadTooLarge."""
    cached: bytes | None = request.scope.get(_RAW_BODY)
    if cached is not None:
        return cached
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY:
                raise PayloadTooLarge()
            chunks.append(chunk)
    except ClientDisconnect:  # no one hears this answer; it only must not be a logged 500
        raise BadRequest(FieldError("the client went away before sending the whole body", "body")) from None
    body = b"".join(chunks)
    request.scope[_RAW_BODY] = body
    return body


async def read_json(request: Request) -> Any:
    """The decoded JSON body. Raises UnsupportedMediaType, PayloadTooLarge or BadRequest."""
    if not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType()
    body = await raw_body(request)
    if not body.strip():
        raise BadRequest(FieldError("request body is required", "body"))
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _depth(body) > MAX_DEPTH:
        raise BadRequest(FieldError(f"JSON nests deeper than {MAX_DEPTH} levels", "body"))
    try:
        value = _decode(body)
    except msgspec.DecodeError as error:
        raise BadRequest(FieldError(f"malformed JSON: {error}", "body")) from None
    except UnicodeDecodeError:
        raise BadRequest(FieldError("malformed JSON: not valid UTF-8", "body")) from None
    duplicate = duplicate_key(body, value)
    if duplicate is not None:
        raise BadRequest(FieldError("duplicate key in JSON object", duplicate))
    return value


def _depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects, skipping strings."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def duplicate_key(body: bytes, value: Any) -> str | None:
    """The path of a key that occurs twice in one object of `body`, or None.

    The decoder keeps the last of duplicate keys silently, so a cheap test runs first. Outside
    strings, each `:` of JSON text separates one object member; re-encoding the decoded value
    gives one colon per member it kept, plus the colons of its strings. So unless the body has
    more colons than its re-encoding (or hides some as `\\u003a`), no member was dropped. That test
    costs one C-speed encode and count; only a body that fails it is parsed again to name the key.
    """
    colons = body.count(b":")
    if colons == 0 or (colons <= _encode(value).count(b":") and b"\\u003" not in body):
        return None
    pairs = json.loads(body, object_pairs_hook=_Pairs)
    return _find_duplicate(pairs, "")


class _Pairs(list[tuple[str, Any]]):
    """An object's members in text order, duplicates kept."""


def _find_duplicate(value: Any, path: str) -> str | None:
    if isinstance(value, _Pairs):
        seen: set[str] = set()
        for key, item in value:
            field = f"{path}.{key}" if path else key
            if key in seen:
                return field
            seen.add(key)
            found = _find_duplicate(item, field)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _find_duplicate(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None
