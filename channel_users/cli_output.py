"""How the `users` commands print a user: JSON as the API sent it, or a two-column table."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from channel_users.client_models import User


def render(user: User | None, output_format: str) -> str:
    """The text printed for a command's result; None stands for a deleted user."""
    if output_format == "table":
        return "deleted" if user is None else table(user.raw)
    return json.dumps({} if user is None else user.raw, indent=2, ensure_ascii=False)


def table(raw: dict[str, Any]) -> str:
    """A `field  value` row per field; nested objects flattened (`profile.name`), times in UTC."""
    rows = list(_rows("", raw))
    width = max((len(key) for key, _ in rows), default=0)
    return "\n".join(f"{key.ljust(width)}  {value}" for key, value in rows)


def _rows(prefix: str, data: dict[str, Any]) -> Any:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _rows(f"{name}.", value)
        else:
            yield name, _cell(key, value)


def _cell(key: str, value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if key.endswith("At") and isinstance(value, int | float):
        # API timestamps are epoch milliseconds.
        moment = datetime.fromtimestamp(value / 1000, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)
