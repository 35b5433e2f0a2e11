"""Validating answers against a schema of upstream's OpenAPI document.

Upstream's generator renders Java's `Map<String, Object>` (a profile, an event's `property`) as
`additionalProperties: {"type": "object"}`, although its values are strings, numbers and booleans;
those are relaxed to "any value" before validating.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

UPSTREAM = Path(__file__).resolve().parents[2] / "shared/upstream/channel-open-api-v5.swagger.json"


def _relax(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: {} if key == "additionalProperties" and value == {"type": "object"} else _relax(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_relax(item) for item in node]
    return node


@cache
def _components() -> dict[str, Any]:
    with UPSTREAM.open() as f:
        relaxed: dict[str, Any] = _relax(json.load(f)["components"])
    return relaxed


def validate(schema_name: str, instance: Any) -> None:
    """Raises jsonschema.ValidationError unless `instance` fits `#/components/schemas/<name>`."""
    root = {"components": _components(), "$ref": f"#/components/schemas/{schema_name}"}
    jsonschema.validate(instance, root)
