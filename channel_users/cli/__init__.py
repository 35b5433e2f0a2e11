"""The command line: the server's commands (SPEC section 8) and the client's `users` commands."""

from .main import main

__all__ = ["main"]
