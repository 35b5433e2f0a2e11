"""Our OpenAPI document: valid OpenAPI 3.1, a superset of upstream's user operations, consistent
with itself, and served by the app (every operation not marked `x-status: planned`)."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import httpx
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator

from tests.schema_helpers import (
    OURS_URI,
    deref,
    find_operation,
    is_planned,
    operations,
    ours,
    pointer,
    schema_errors,
    upstream_raw,
)

PREFIXES = ("/open/v5/users", "/open/v5/channel", "/open/v5/webhooks")
# User chats are another resource, out of scope (SPEC section 2).
OUT_OF_SCOPE = "/user-chats"


def upstream_operations() -> list[tuple[str, str, str]]:
    return sorted(
        (method, path, op["operationId"])
        for method, path, op in operations(upstream_raw())
        if path.startswith(PREFIXES) and OUT_OF_SCOPE not in path
    )


def our_operations() -> list[tuple[str, str, dict[str, Any]]]:
    return list(operations(ours()))


def op_id(value: Any) -> str:
    return str(value[2]["operationId"]) if isinstance(value, tuple) else str(value)


# --- (a) a valid OpenAPI 3.1 document ------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    # openapi-spec-validator checks the document against the OpenAPI 3.1 meta-schema and more: every
    # `$ref` resolves, path parameters are declared, operationIds are unique.
    assert ours()["openapi"].startswith("3.1.")
    errors = [str(e).splitlines()[0] for e in OpenAPIV31SpecValidator(ours()).iter_errors()]
    assert errors == []


def test_document_validator_catches_a_broken_document() -> None:
    broken = dict(ours(), paths={"/open/v5/users/{userId}": {"get": {"responses": {}}}})
    assert list(OpenAPIV31SpecValidator(broken).iter_errors())


def test_error_schema_is_the_one_error_shape() -> None:
    error = ours()["components"]["schemas"]["Error"]
    assert error["required"] == ["type", "status", "errors"]
    assert error["properties"]["type"]["type"] == "string"
    assert error["properties"]["status"]["type"] == "integer"
    field_error, _ = deref(ours(), error["properties"]["errors"]["items"], "")
    assert field_error["required"] == ["message"]
    assert set(field_error["properties"]) == {"message", "field"}


def test_security_is_the_two_access_key_headers() -> None:
    schemes = ours()["components"]["securitySchemes"]
    assert {(s["type"], s["in"], s["name"]) for s in schemes.values()} == {
        ("apiKey", "header", "x-access-key"),
        ("apiKey", "header", "x-access-secret"),
    }
    # Both headers in one requirement: the key AND the secret.
    assert ours()["security"] == [{name: [] for name in schemes}]


def test_x_status_is_only_ever_planned() -> None:
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "x-status" in node:
                found.append(node["x-status"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(ours())
    assert set(found) <= {"planned"}


# --- (b) a superset of upstream's user operations ------------------------------------------------


@pytest.mark.parametrize("method, path, operation_id", upstream_operations())
def test_upstream_operation_is_ours_with_the_same_operation_id(
    method: str, path: str, operation_id: str
) -> None:
    operation = ours()["paths"].get(path, {}).get(method.lower())
    assert operation is not None, f"{method} {path} is missing"
    assert operation["operationId"] == operation_id


def test_upstream_operations_list_is_the_user_resource() -> None:
    ids = {op for _, _, op in upstream_operations()}
    assert {"showById_7", "patch_1", "upsertByMemberId_1", "create_12", "delete_10", "touch"} <= ids
    assert {"deleteByMemberId_1", "showByMemberId_1", "block_1", "unblock_1", "showById_4"} <= ids
    assert not any("user-chats" in path for _, path, _ in upstream_operations())


@pytest.mark.parametrize("method, path, operation_id", upstream_operations())
def test_upstream_query_parameters_are_ours(method: str, path: str, operation_id: str) -> None:
    theirs = upstream_raw()["paths"][path][method.lower()].get("parameters", [])
    item = ours()["paths"][path]
    mine = [
        deref(ours(), p, "")[0]
        for p in item.get("parameters", []) + item[method.lower()].get("parameters", [])
    ]
    names = {(p["in"], p["name"]) for p in mine}
    assert {(p["in"], p["name"]) for p in theirs} <= names


# --- the document agrees with itself --------------------------------------------------------------


def _responses(operation: dict[str, Any]) -> set[str]:
    return set(operation["responses"])


def _parameter_names(path: str, operation: dict[str, Any]) -> set[str]:
    item = ours()["paths"][path]
    params = item.get("parameters", []) + operation.get("parameters", [])
    return {deref(ours(), p, "")[0]["name"] for p in params}


@pytest.mark.parametrize("method, path, operation", our_operations(), ids=op_id)
def test_operation_documents_its_real_status_codes(method: str, path: str, operation: dict[str, Any]) -> None:
    statuses = _responses(operation)
    assert "default" not in statuses, "list the real status codes"
    assert any(s.startswith("2") for s in statuses)
    if not path.startswith("/open/v5/"):
        assert operation.get("security") == [], "operations outside /open/v5 need no keys"
        return
    assert "security" not in operation
    assert {"401", "429"} <= statuses
    params = _parameter_names(path, operation)
    if "requestBody" in operation:
        assert {"400", "413", "415"} <= statuses
    if "If-Match" in params:
        assert "412" in statuses
    if "Idempotency-Key" in params:
        assert "409" in statuses
        # A replay with another body needs a body to differ in.
        assert ("422" in statuses) == ("requestBody" in operation)
    if {"userId", "eventId", "id"} & params or ("memberId" in params and method in {"GET", "DELETE"}):
        assert "404" in statuses
    if "memberId" in params:
        assert "400" in statuses, "an invalid memberId is a 400"


@pytest.mark.parametrize("method, path, operation", our_operations(), ids=op_id)
def test_writes_take_if_match_and_idempotency_key(method: str, path: str, operation: dict[str, Any]) -> None:
    params = _parameter_names(path, operation)
    if method in {"POST", "PUT", "PATCH"} and path.startswith("/open/v5/"):
        assert "Idempotency-Key" in params
    user_write = path in {"/open/v5/users/{userId}", "/open/v5/users/@{memberId}"}
    assert ("If-Match" in params) == (user_write and method in {"PATCH", "PUT", "DELETE"})


def test_post_users_body_is_json_unlike_upstream_document() -> None:
    upstream_body = upstream_raw()["paths"]["/open/v5/users"]["post"]["requestBody"]["content"]
    assert list(upstream_body) == ["application/x-www-form-urlencoded"]
    operation = ours()["paths"]["/open/v5/users"]["post"]
    assert list(operation["requestBody"]["content"]) == ["application/json"]
    assert "form-urlencoded" in operation["description"]


def test_user_answers_carry_an_etag() -> None:
    for _, _, operation in our_operations():
        response, _ = deref(ours(), operation["responses"].get("200", {}), "")
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if schema.get("$ref") == "#/components/schemas/UserView":
            assert "ETag" in response["headers"], operation["operationId"]


def _examples() -> list[tuple[str, str, Any]]:
    """(where, schema pointer, example) for every example the document gives."""
    found: list[tuple[str, str, Any]] = []
    document = ours()

    def media(content: dict[str, Any], at: str) -> None:
        for media_type, body in content.items():
            schema_at = at + pointer(media_type, "schema")
            if "example" in body:
                found.append((at, schema_at, body["example"]))
            for name, example in body.get("examples", {}).items():
                example, _ = deref(document, example, "")
                found.append((f"{at}/{name}", schema_at, example["value"]))

    for method, path, operation in operations(document):
        at = pointer("paths", path, method.lower())
        item_at = pointer("paths", path)
        params = [
            (param, f"{where}/parameters/{index}")
            for node, where in ((document["paths"][path], item_at), (operation, at))
            for index, param in enumerate(node.get("parameters", []))
        ]
        for param, param_at in params:
            param, param_at = deref(document, param, param_at)
            if "example" in param:
                found.append((param_at, param_at + "/schema", param["example"]))
        if "requestBody" in operation:
            body, body_at = deref(document, operation["requestBody"], at + "/requestBody")
            media(body["content"], body_at + "/content")
        for status, response in operation["responses"].items():
            response, response_at = deref(document, response, f"{at}/responses/{status}")
            media(response.get("content", {}), response_at + "/content")
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            found.append((name, pointer("components", "schemas", name), example))
    return found


def test_document_gives_examples() -> None:
    assert len(_examples()) > 30


@pytest.mark.parametrize("where, schema_at, example", _examples(), ids=lambda v: str(v)[:60])
def test_example_matches_its_schema(where: str, schema_at: str, example: Any) -> None:
    assert schema_errors(OURS_URI, schema_at, example) == []


def test_find_operation_prefers_member_routes() -> None:
    found = find_operation(ours(), "GET", "/open/v5/users/@abc")
    assert found is not None and found[1]["operationId"] == "showByMemberId_1"
    found = find_operation(ours(), "GET", "/open/v5/users/5f0c1435e68c92da02fd")
    assert found is not None and found[1]["operationId"] == "showById_7"
    assert find_operation(ours(), "PUT", "/open/v5/users/5f0c1435e68c92da02fd") is None


# --- (c) the app serves every operation that is not planned -------------------------------------

PLACEHOLDERS = {
    "{userId}": "5f0c1435e68c92da02fd",
    "{memberId}": "member-1",
    "{eventId}": "5f0c1435e68c92da02fe",
    "{id}": "1",
}


def concrete(path: str) -> str:
    for template, value in PLACEHOLDERS.items():
        path = path.replace(template, value)
    return path


async def _unrouted(api: httpx.AsyncClient) -> tuple[int, bytes]:
    answer = await api.get("/open/v5/no-such-endpoint")
    assert answer.status_code == 404
    return answer.status_code, answer.content


async def _call(api: httpx.AsyncClient, method: str, path: str, operation: dict[str, Any]) -> httpx.Response:
    # A JSON object body where one is taken: the route must be reached whether or not it is valid.
    body = {} if "requestBody" in operation else None
    return await api.request(method, concrete(path), json=body)


SERVED = [o for o in our_operations() if not is_planned(o[2])]


@pytest.mark.parametrize("method, path, operation", SERVED, ids=op_id)
async def test_operation_is_served(
    api: httpx.AsyncClient, method: str, path: str, operation: dict[str, Any]
) -> None:
    unrouted = await _unrouted(api)
    answer = await _call(api, method, path, operation)
    # Not a route-level 404 (which answers exactly as an unknown path does) nor a 405. A 404 for an
    # absent user is fine: it is the operation answering.
    assert answer.status_code != 405, answer.text
    assert (answer.status_code, answer.content) != unrouted


async def test_openapi_json_is_this_document(api: httpx.AsyncClient) -> None:
    answer = await api.get("/openapi.json")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == ours()


async def test_docs_page_is_served(api: httpx.AsyncClient) -> None:
    answer = await api.get("/docs")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in answer.text


def test_docs_page_is_self_contained() -> None:
    page = (resources.files("channel_users") / "docs.html").read_text()
    # It must work offline: no external scripts, styles, fonts or images.
    assert not re.search(r"<(script|link|img|iframe)\b[^>]*\b(src|href)=", page, re.IGNORECASE)
    assert not re.search(r"url\(|@import", page)
    assert 'fetch("/openapi.json")' in page
