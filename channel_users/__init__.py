"""channel-users: a server for the Channel Open API v5 user resource, and its Python client."""

from channel_users.client import AsyncClient, Client
from channel_users.client_errors import (
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
from channel_users.client_models import UNSET, User

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
