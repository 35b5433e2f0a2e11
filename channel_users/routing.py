"""A small router over the raw request path for `/open/v5`.

Routing on the raw, still-encoded path keeps an encoded slash inside a memberId (`@a%2Fb`) from
being mistaken for a path separator, which routing on the decoded path would do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

Handler = Callable[..., Awaitable[Any]]


@dataclass
class Route:
    pattern: tuple[str, ...]
    handlers: dict[str, Handler] = field(default_factory=dict)

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for part, segment in zip(self.pattern, segments, strict=True):
            if part.startswith("@{"):  # `@{memberId}`: the segment must start with @
                if not segment.startswith("@"):
                    return None
                params[part[2:-1]] = unquote(segment[1:], errors="replace")
            elif part.startswith("{"):  # `{userId}`: any segment that is not a memberId
                if not segment or segment.startswith("@"):
                    return None
                params[part[1:-1]] = unquote(segment, errors="replace")
            elif part != segment:
                return None
        return params


class Router:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.routes: list[Route] = []

    def add(self, pattern: str, **handlers: Handler) -> None:
        """Registers handlers by HTTP method, e.g. `add("users/{userId}", GET=get_user)`."""
        self.routes.append(Route(tuple(pattern.split("/")), handlers))

    def resolve(self, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        if not raw_path.startswith(self.prefix):
            return None
        segments = raw_path[len(self.prefix) :].split("/")
        for route in self.routes:
            params = route.match(segments)
            if params is not None:
                return route, params
        return None
