"""Fuzzing with schemathesis, over a real socket with real credentials, on SQLite and PostgreSQL.

Cases come from upstream's OpenAPI document (the user operations we serve) and from ours, in both
positive and negative generation modes. Every answer: no 5xx; a 2xx validates against the
operation's response schema; a 4xx is our error envelope with the status it was sent with.
CI runs 30 examples per operation and mode; `FULL=1` runs 400.
Cases found by earlier runs are kept as plain regression tests at the end of this file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from channel_users.app import openapi_json
from channel_users.endpoints import user_routes

from .conftest import LiveServer, create_postgres_database, drop_postgres_database, start_server

FULL = os.environ.get("FULL") == "1"
EXAMPLES = 400 if FULL else 30
UPSTREAM = Path(__file__).parents[1] / "upstream" / "channel-open-api-v5.swagger.json"

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["type", "status", "errors"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "minLength": 1},
        "status": {"type": "integer"},
        "errors": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["message"],
                "additionalProperties": False,
                "properties": {"message": {"type": "string", "minLength": 1}, "field": {"type": "string"}},
            },
        },
    },
}


def _served() -> set[tuple[str, str]]:
    """(METHOD, path template) of every operation our router serves."""
    served = set()
    for route in user_routes().routes:
        template = "/open/v5/" + "/".join(route.pattern)
        served |= {(method, template) for method in route.handlers}
    return served


def _operations(schema: Any) -> list[Any]:
    served = _served()
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation is not None and (operation.method.upper(), operation.path) in served:
            found.append(operation)
    return found


def _schemas() -> dict[str, Any]:
    upstream = schemathesis.openapi.from_path(str(UPSTREAM))
    ours = schemathesis.openapi.from_dict(json.loads(openapi_json()))
    return {"upstream": upstream, "ours": ours}


SCHEMAS = _schemas()
# Negative cases exist only where the schema constrains something: operations with a body (a path
# parameter is any string, which our server must answer anyway).
CASES = [
    pytest.param(name, op, mode, id=f"{name}-{mode.value}-{op.method.upper()} {op.path}")
    for name, schema in SCHEMAS.items()
    for op in _operations(schema)
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if mode == GenerationMode.POSITIVE or len(op.body) > 0
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzz_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, str, str]]:
    """A server with one known lead and one known member, whose id and memberId cases may aim at."""
    tmp = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{tmp / 'fuzz.db'}" if request.param == "sqlite" else create_postgres_database()
    server = start_server(url, tmp)
    try:
        with httpx.Client(base_url=server.base_url, headers=server.headers) as c:
            user_id = c.post("/open/v5/users", json={"profile": {"name": "Fuzz"}}).json()["user"]["id"]
            c.put("/open/v5/users/@fuzz", json={"profile": {"name": "Member"}})
        yield server, user_id, "fuzz"
    finally:
        server.stop()
        if request.param == "postgres":
            drop_postgres_database(url)


def check_answer(case: Any, response: requests.Response) -> None:
    """The checks every fuzzed answer must pass."""
    where = f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code < 300:
        case.validate_response(response, checks=[response_schema_conformance])
        return
    body = response.json()
    jsonschema.validate(body, ERROR_ENVELOPE)
    assert body["status"] == response.status_code, where
    content_type = response.headers.get("content-type")
    assert content_type in ("application/json", ["application/json"]), where


@pytest.mark.parametrize(("document", "operation", "mode"), CASES)
def test_fuzz_operation(
    fuzz_server: tuple[LiveServer, str, str], document: str, operation: Any, mode: GenerationMode
) -> None:
    server, user_id, member_id = fuzz_server
    session = requests.Session()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=not FULL,
    )
    @given(case=operation.as_strategy(generation_mode=mode), aim=st.sampled_from(["generated", "known"]))
    def fuzz(case: Any, aim: str) -> None:
        if aim == "known" and case.path_parameters:
            if "userId" in case.path_parameters:
                case.path_parameters["userId"] = user_id
            if "memberId" in case.path_parameters:
                case.path_parameters["memberId"] = member_id
        response = case.call(base_url=server.base_url, headers=server.headers, session=session, timeout=30)
        check_answer(case, response)

    try:
        fuzz()
    finally:
        session.close()
