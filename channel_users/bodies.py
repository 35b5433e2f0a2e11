"""Reading a JSON request body within the limits of SPEC section 5 (415, 413, 400)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request

from .errors import BadRequest, FieldError, PayloadTooLarge, UnsupportedMediaType

MAX_BODY = 1024 * 1024

_decode = msgspec.json.decode


def _is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json"


async def read_json(request: Request) -> Any:
    """The decoded JSON body. Raises UnsupportedMediaType, PayloadTooLarge or BadRequest."""
    if not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType()
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise PayloadTooLarge()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise PayloadTooLarge()
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise BadRequest(FieldError("request body is required", "body"))
    try:
        return _decode(body)
    except msgspec.DecodeError as error:
        raise BadRequest(FieldError(f"malformed JSON: {error}", "body")) from None
