"""Errors the server answers with, one class per failure.

    ApiError                    base: `status` and `type` as class attributes
    ├── BadRequest              400 invalid input or malformed JSON (carries every field error)
    ├── Unauthorized            401 missing or wrong access key / secret
    ├── NotFound                404 no such resource in the caller's channel
    ├── MethodNotAllowed        405
    ├── Conflict                409 e.g. an Idempotency-Key whose first request is still running
    ├── PreconditionFailed      412 If-Match does not match the current version
    ├── PayloadTooLarge         413 body over the limit
    ├── UnsupportedMediaType    415 body not application/json
    ├── UnprocessableEntity     422 e.g. an Idempotency-Key reused with another body
    └── TooManyRequests         429 rate limit exceeded

Every error body is built by `ApiError.body()`: `{"type", "status", "errors": [{"message", "field"?}]}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import msgspec


@dataclass(frozen=True)
class FieldError:
    """One violation; `field` is a path such as `profile.mobileNumber` or `tags[3]`."""

    message: str
    field: str | None = None

    def to_json(self) -> dict[str, str]:
        if self.field is None:
            return {"message": self.message}
        return {"message": self.message, "field": self.field}


class ApiError(Exception):
    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal_server_error"
    default_message: ClassVar[str] = "internal server error"
    default_field: ClassVar[str | None] = None

    def __init__(self, *errors: FieldError | str, headers: dict[str, str] | None = None) -> None:
        self.errors = [e if isinstance(e, FieldError) else FieldError(e) for e in errors] or [
            FieldError(self.default_message, self.default_field)
        ]
        self.headers = headers or {}
        super().__init__("; ".join(e.message for e in self.errors))

    def body(self) -> bytes:
        payload: dict[str, Any] = {
            "type": self.type,
            "status": self.status,
            "errors": [e.to_json() for e in self.errors],
        }
        return msgspec.json.encode(payload)


class BadRequest(ApiError):
    status = 400
    type = "bad_request"
    default_message = "invalid request"


class Unauthorized(ApiError):
    status = 401
    type = "unauthorized"
    default_message = "missing or invalid x-access-key / x-access-secret"


class NotFound(ApiError):
    status = 404
    type = "not_found"
    default_message = "not found"


class MethodNotAllowed(ApiError):
    status = 405
    type = "method_not_allowed"
    default_message = "method not allowed"


class Conflict(ApiError):
    status = 409
    type = "conflict"
    default_message = "conflict"


class PreconditionFailed(ApiError):
    status = 412
    type = "precondition_failed"
    default_message = "If-Match does not match the current version"
    default_field = "If-Match"


class PayloadTooLarge(ApiError):
    status = 413
    type = "payload_too_large"
    default_message = "request body is larger than 1 MiB"
    default_field = "body"


class UnsupportedMediaType(ApiError):
    status = 415
    type = "unsupported_media_type"
    default_message = "Content-Type must be application/json"
    default_field = "Content-Type"


class UnprocessableEntity(ApiError):
    status = 422
    type = "unprocessable_entity"
    default_message = "unprocessable entity"


class TooManyRequests(ApiError):
    status = 429
    type = "too_many_requests"
    default_message = "rate limit exceeded"
