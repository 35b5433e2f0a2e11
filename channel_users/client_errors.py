"""Errors the Python client raises, one class per kind of failure.

    ClientError                   base: `status`, `type`, `errors`, `request`, `response`
    ├── TransportError            no answer: connection refused or reset, timeout, protocol error
    ├── DecodeError               a success status whose body is not the JSON expected
    └── StatusError               an error status (405, 413, 415 and other 4xx are this class)
        ├── BadRequestError           400 invalid input; `field_errors` by field path
        ├── AuthenticationError       401 missing or wrong x-access-key / x-access-secret
        ├── NotFoundError             404 no such user in the key pair's channel
        ├── ConflictError             409 an Idempotency-Key whose first request is still running
        ├── PreconditionFailedError   412 If-Match does not match the current version
        ├── UnprocessableEntityError  422 an Idempotency-Key reused with another body
        ├── RateLimitError            429 rate limit exceeded; `retry_after` in seconds, or None
        └── ServerError               5xx

`status` and `type` are None for a TransportError; `type` is the API's error code (`"not_found"`,
...) when the body carries one. `errors` is the body's `errors` list as FieldError objects, never
empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class FieldError:
    """One entry of an error body's `errors` list; `field` is a path such as
    `profile.mobileNumber`."""

    message: str
    field: str | None = None

    def __str__(self) -> str:
        return self.message if self.field is None else f"{self.field}: {self.message}"


class ClientError(Exception):
    """Base of every error the client raises; catch this to handle them all."""

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request,
        response: httpx.Response | None = None,
        status: int | None = None,
        type: str | None = None,
        errors: list[FieldError] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.response = response
        self.status = status
        self.type = type
        self.errors = errors or [FieldError(message)]

    def __str__(self) -> str:
        return "; ".join(str(e) for e in self.errors)


class TransportError(ClientError):
    """The request got no answer; `__cause__` is the underlying httpx exception."""


class DecodeError(ClientError):
    """The API answered a success status with a body that is not the expected JSON."""


class StatusError(ClientError):
    """The API answered with an error status; `response` is that answer."""

    response: httpx.Response

    def __str__(self) -> str:
        return f"{self.status} {self.type or 'error'}: {super().__str__()}"


class BadRequestError(StatusError):
    """400: the request was refused as invalid; every violation is in `errors`."""

    @property
    def field_errors(self) -> dict[str, list[str]]:
        """Messages by field path (`profile.mobileNumber`, `tags[3]`); errors without a field are
        left out."""
        by_field: dict[str, list[str]] = {}
        for error in self.errors:
            if error.field is not None:
                by_field.setdefault(error.field, []).append(error.message)
        return by_field


class AuthenticationError(StatusError):
    """401: the access key or secret is missing or wrong."""


class NotFoundError(StatusError):
    """404: no such user in the channel the key pair belongs to."""


class ConflictError(StatusError):
    """409: e.g. the first request with this Idempotency-Key is still running."""


class PreconditionFailedError(StatusError):
    """412: If-Match did not match the user's current version."""


class UnprocessableEntityError(StatusError):
    """422: e.g. an Idempotency-Key was reused with another body."""


class RateLimitError(StatusError):
    """429: the channel's rate limit is exceeded; `retry_after` is seconds to wait, or None if
    unknown."""

    retry_after: float | None = None


class ServerError(StatusError):
    """5xx: the server failed; retried by the client before this is raised."""


STATUS_ERRORS: dict[int, type[StatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    404: NotFoundError,
    409: ConflictError,
    412: PreconditionFailedError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_class(status: int) -> type[StatusError]:
    """The StatusError subclass raised for an error status."""
    if status >= 500:
        return ServerError
    return STATUS_ERRORS.get(status, StatusError)
