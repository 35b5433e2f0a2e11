"""Loading our OpenAPI document and upstream's, finding operations, and validating answers.

Schemas are validated with `jsonschema` (draft 2020-12, the dialect of OpenAPI 3.1) through a
`referencing` registry, so `$ref`s resolve inside the document that holds them.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

OURS_URI = "urn:channel-users:openapi"
UPSTREAM_URI = "urn:channel-open-api:v5"
UPSTREAM_PATH = Path(
    os.environ.get(
        "CHANNEL_USERS_UPSTREAM_OPENAPI",
        Path(__file__).resolve().parents[1] / "upstream/channel-open-api-v5.swagger.json",
    )
)
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Upstream's document is generated from Java: a `Map<String, Object>` comes out as
# `additionalProperties: {"type": "object"}`, which would refuse every string, number and boolean.
# It means "any JSON value", so exactly these maps are relaxed to `{}` before validating against it.
UPSTREAM_ANY_VALUE_MAPS = (
    ("open.OpenApiUserDto", "profile"),  # the user's profile
    ("Event", "property"),  # an event's properties (SPEC section 5: scalars, as in profiles)
)


@cache
def ours() -> dict[str, Any]:
    text = (resources.files("channel_users") / "openapi.yaml").read_text()
    document: dict[str, Any] = yaml.safe_load(text)
    return document


@cache
def upstream_raw() -> dict[str, Any]:
    with UPSTREAM_PATH.open() as f:
        document: dict[str, Any] = json.load(f)
    return document


@cache
def upstream() -> dict[str, Any]:
    """Upstream's document with the `Map<String, Object>` artifacts relaxed (see above)."""
    document = copy.deepcopy(upstream_raw())
    schemas = document["components"]["schemas"]
    for schema, field in UPSTREAM_ANY_VALUE_MAPS:
        assert schemas[schema]["properties"][field]["additionalProperties"] == {"type": "object"}
        schemas[schema]["properties"][field]["additionalProperties"] = {}
    return document


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path template, operation) for every operation under `paths`."""
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def is_planned(operation: dict[str, Any]) -> bool:
    return operation.get("x-status") == "planned"


def pointer(*parts: str) -> str:
    """A JSON pointer (RFC 6901) from unescaped parts."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)


def resolve(document: dict[str, Any], ref: str) -> Any:
    """The object a local `#/...` reference points at."""
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def deref(document: dict[str, Any], node: dict[str, Any], at: str) -> tuple[dict[str, Any], str]:
    """Follows a chain of OpenAPI `$ref`s (responses, parameters, ...); returns the object and its
    JSON pointer in `document`."""
    while "$ref" in node:
        at = node["$ref"][1:]
        node = resolve(document, node["$ref"])
    return node, at


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def find_operation(document: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    """The path template and operation that serve `method path`, as a router would choose: among
    matching templates, the one with the most literal characters (`@{memberId}` over `{userId}`)."""
    path = path.split("?")[0]
    candidates = [
        (template, item)
        for template, item in document["paths"].items()
        if _template_regex(template).match(path)
    ]
    candidates.sort(key=lambda c: len(re.sub(r"\{[^}]+\}", "", c[0])), reverse=True)
    for template, item in candidates[:1]:
        if method.lower() in item:
            return template, item[method.lower()]
    return None


@cache
def _registry() -> Registry:  # type: ignore[type-arg]
    return Registry().with_resources(
        [
            (OURS_URI, Resource(contents=ours(), specification=DRAFT202012)),
            (UPSTREAM_URI, Resource(contents=upstream(), specification=DRAFT202012)),
        ]
    )


def validator(uri: str, at: str) -> jsonschema.Draft202012Validator:
    """A validator for the schema at JSON pointer `at` of the document registered as `uri`."""
    return jsonschema.Draft202012Validator({"$ref": f"{uri}#{at}"}, registry=_registry())


def schema_errors(uri: str, at: str, instance: Any) -> list[str]:
    """Every violation of the schema at `at`, as `path: message` lines (empty when valid)."""
    errors = validator(uri, at).iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors]


def response_at(
    document: dict[str, Any], template: str, method: str, status: int
) -> tuple[dict[str, Any], str] | None:
    """The response object documented for `status` (or `default`) and its pointer."""
    responses = document["paths"][template][method.lower()]["responses"]
    key = str(status) if str(status) in responses else "default" if "default" in responses else None
    if key is None:
        return None
    at = pointer("paths", template, method.lower(), "responses", key)
    return deref(document, responses[key], at)
