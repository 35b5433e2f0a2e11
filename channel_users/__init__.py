"""channel-users: a server for the Channel Open API v5 user resource, and its Python client."""

from channel_users.client import *  # noqa: F403
from channel_users.client import __all__ as __all__
