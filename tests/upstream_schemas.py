"""Validating an answer against one schema of upstream's OpenAPI document (see schema_helpers)."""

from __future__ import annotations

from typing import Any

from .schema_helpers import UPSTREAM_URI, pointer, schema_errors


def validate(schema_name: str, instance: Any) -> None:
    """Fails unless `instance` fits upstream's `#/components/schemas/<schema_name>`."""
    errors = schema_errors(UPSTREAM_URI, pointer("components", "schemas", schema_name), instance)
    assert not errors, errors
