"""The Python client for the Channel Open API v5 user resource: the real service or channel-users."""

from .errors import (
    AuthenticationError,
    BadRequestError,
    ClientError,
    ConflictError,
    DecodeError,
    FieldError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitError,
    ServerError,
    StatusError,
    TransportError,
    UnprocessableEntityError,
)
from .http import AsyncClient, Client
from .models import UNSET, User

__all__ = [
    "UNSET",
    "AsyncClient",
    "AuthenticationError",
    "BadRequestError",
    "Client",
    "ClientError",
    "ConflictError",
    "DecodeError",
    "FieldError",
    "NotFoundError",
    "PreconditionFailedError",
    "RateLimitError",
    "ServerError",
    "StatusError",
    "TransportError",
    "UnprocessableEntityError",
    "User",
]
