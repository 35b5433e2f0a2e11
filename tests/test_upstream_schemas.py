"""Every endpoint of the running app, walked with real requests: each answer (2xx and 4xx) must match
OUR document for its operation and status, and each 2xx answer must also match UPSTREAM's schema for
that operation (`open.v5.UserView` for users, `desk.ChannelView` for the channel, ...).

Cases are generated from our document: every documented status of every operation gets a request that
should produce it. Operations, parameters and responses marked `x-status: planned` are skipped until
they are served.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.schema_helpers import (
    OURS_URI,
    UPSTREAM_URI,
    deref,
    find_operation,
    is_planned,
    operations,
    ours,
    pointer,
    response_at,
    schema_errors,
    upstream,
)

UNKNOWN_ID = "5f0c1435e68c92da02fd"  # well formed; no channel has it
TOO_LONG_MEMBER_ID = "m" * 256
NO_BODY: Any = object()


@dataclass
class Req:
    method: str
    path: str
    json: Any = NO_BODY
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


@dataclass
class Scenario:
    """Requests for one operation, made against resources the recipe has just created."""

    ok: Req
    missing: Req | None = None  # a request for an absent resource: 404
    bad: Req | None = None  # invalid input: 400
    other_body: Any = NO_BODY  # another valid body, for an Idempotency-Key reused with it: 422
    scoped: bool = False  # `ok` names a resource of the channel, which another channel must not see


Recipe = Callable[[httpx.AsyncClient], Awaitable[Scenario]]

MEMBER_PROFILE = {
    "name": "Kim",
    "email": "kim@example.com",
    "mobileNumber": "+8201012345678",
    "recentPurchaseCount": 3,
    "plan": "pro",
    "score": 1.5,
    "vip": True,
}
BAD_USER_BODY = {"profile": {"mobileNumber": "not a number", "1bad": "x"}, "tags": ["x" * 51], "nope": 1}
WEBHOOK = {
    "name": "CRM sync",
    "url": "https://crm.example.com/hooks",
    "scopes": ["member.upserted.contact", "member.deleted"],
    "apiVersion": "v5",
}


async def _ok(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, f"{answer.request.method} {answer.request.url}: {answer.text}"
    return answer.json()


async def member(api: httpx.AsyncClient, member_id: str = "member-1") -> dict[str, Any]:
    body = {"profile": MEMBER_PROFILE, "tags": ["VIP", "newsletter"]}
    user: dict[str, Any] = (await _ok(await api.put(f"/open/v5/users/@{member_id}", json=body)))["user"]
    return user


async def event(api: httpx.AsyncClient, user_id: str) -> dict[str, Any]:
    body = {"name": "Purchase", "property": {"amount": 12.5}}
    answer = await api.post(f"/open/v5/users/{user_id}/events", json=body)
    found: dict[str, Any] = (await _ok(answer))["event"]
    return found


async def webhook(api: httpx.AsyncClient) -> dict[str, Any]:
    found: dict[str, Any] = (await _ok(await api.post("/open/v5/webhooks", json=WEBHOOK)))["webhook"]
    return found


async def create_12(api: httpx.AsyncClient) -> Scenario:
    return Scenario(
        ok=Req("POST", "/open/v5/users", {"profile": {"email": "lead@example.com", "visits": 2}}),
        bad=Req("POST", "/open/v5/users", {"profile": {"mobileNumber": "12"}, "extra": 1}),
        other_body={"profile": {"name": "Other"}},
    )


async def show_by_id(api: httpx.AsyncClient) -> Scenario:
    user = await member(api)
    return Scenario(
        ok=Req("GET", f"/open/v5/users/{user['id']}"),
        missing=Req("GET", f"/open/v5/users/{UNKNOWN_ID}"),
        scoped=True,
    )


async def patch(api: httpx.AsyncClient) -> Scenario:
    user = await member(api)
    body = {
        "profile": {"plan": "team", "score": None},
        "profileOnce": {"firstCampaign": "spring"},
        "tags": ["a", " B "],
        "unsubscribeEmail": True,
        "language": "ko",
        "version": 99,  # read-only: ignored
    }
    return Scenario(
        ok=Req("PATCH", f"/open/v5/users/{user['id']}", body),
        missing=Req("PATCH", f"/open/v5/users/{UNKNOWN_ID}", body),
        bad=Req("PATCH", f"/open/v5/users/{user['id']}", BAD_USER_BODY),
        other_body={"profile": {"plan": "free"}},
        scoped=True,
    )


async def delete_by_id(api: httpx.AsyncClient) -> Scenario:
    user = await member(api)
    return Scenario(
        ok=Req("DELETE", f"/open/v5/users/{user['id']}"),
        missing=Req("DELETE", f"/open/v5/users/{UNKNOWN_ID}"),
        scoped=True,
    )


async def show_by_member_id(api: httpx.AsyncClient) -> Scenario:
    await member(api, "Kim Jo")  # a memberId that needs URL-encoding
    return Scenario(
        ok=Req("GET", "/open/v5/users/@Kim%20Jo"),
        missing=Req("GET", "/open/v5/users/@nobody"),
        bad=Req("GET", f"/open/v5/users/@{TOO_LONG_MEMBER_ID}"),
        scoped=True,
    )


async def upsert(api: httpx.AsyncClient) -> Scenario:
    await member(api)
    return Scenario(
        ok=Req("PUT", "/open/v5/users/@member-1", {"profile": {"plan": "team"}, "unsubscribeTexting": True}),
        bad=Req("PUT", "/open/v5/users/@member-1", BAD_USER_BODY),
        other_body={"profile": {"plan": "free"}},
    )


async def delete_by_member_id(api: httpx.AsyncClient) -> Scenario:
    await member(api)
    return Scenario(
        ok=Req("DELETE", "/open/v5/users/@member-1"),
        missing=Req("DELETE", "/open/v5/users/@nobody"),
        bad=Req("DELETE", f"/open/v5/users/@{TOO_LONG_MEMBER_ID}"),
        scoped=True,
    )


def _user_action(method: str, suffix: str) -> Recipe:
    async def recipe(api: httpx.AsyncClient) -> Scenario:
        user = await member(api)
        return Scenario(
            ok=Req(method, f"/open/v5/users/{user['id']}/{suffix}"),
            missing=Req(method, f"/open/v5/users/{UNKNOWN_ID}/{suffix}"),
            scoped=True,
        )

    return recipe


async def channel(api: httpx.AsyncClient) -> Scenario:
    return Scenario(ok=Req("GET", "/open/v5/channel"))


async def create_event(api: httpx.AsyncClient) -> Scenario:
    user = await member(api)
    body = {"name": "Purchase", "property": {"amount": 12.5, "currency": "EUR"}}
    return Scenario(
        ok=Req("POST", f"/open/v5/users/{user['id']}/events", body),
        missing=Req("POST", f"/open/v5/users/{UNKNOWN_ID}/events", body),
        bad=Req("POST", f"/open/v5/users/{user['id']}/events", {"name": "", "property": {"a": [1]}}),
        other_body={"name": "Refund"},
        scoped=True,
    )


async def list_events(api: httpx.AsyncClient) -> Scenario:
    user = await member(api)
    await event(api, user["id"])
    return Scenario(
        ok=Req("GET", f"/open/v5/users/{user['id']}/events?sortOrder=desc&limit=10"),
        missing=Req("GET", f"/open/v5/users/{UNKNOWN_ID}/events?sortOrder=desc"),
        bad=Req("GET", f"/open/v5/users/{user['id']}/events?sortOrder=sideways&limit=0"),
        scoped=True,
    )


async def delete_event(api: httpx.AsyncClient) -> Scenario:
    user = await member(api)
    found = await event(api, user["id"])
    return Scenario(
        ok=Req("DELETE", f"/open/v5/users/{user['id']}/events/{found['id']}"),
        missing=Req("DELETE", f"/open/v5/users/{user['id']}/events/{UNKNOWN_ID}"),
        scoped=True,
    )


async def user_token_by_member_id(api: httpx.AsyncClient) -> Scenario:
    await member(api)
    return Scenario(
        ok=Req("PUT", "/open/v5/users/@member-1/user-token/issue"),
        missing=Req("PUT", "/open/v5/users/@nobody/user-token/issue"),
        bad=Req("PUT", f"/open/v5/users/@{TOO_LONG_MEMBER_ID}/user-token/issue"),
        scoped=True,
    )


async def session_jwt(api: httpx.AsyncClient) -> Scenario:
    await member(api)
    return Scenario(
        ok=Req("PUT", "/open/v5/users/@member-1/session-jwt/issue?expiration=PT1H"),
        missing=Req("PUT", "/open/v5/users/@nobody/session-jwt/issue"),
        bad=Req("PUT", "/open/v5/users/@member-1/session-jwt/issue?expiration=P31D"),
        scoped=True,
    )


async def list_webhooks(api: httpx.AsyncClient) -> Scenario:
    await webhook(api)
    return Scenario(
        ok=Req("GET", "/open/v5/webhooks?limit=10"),
        bad=Req("GET", "/open/v5/webhooks?limit=0"),
    )


async def create_webhook(api: httpx.AsyncClient) -> Scenario:
    bad = dict(WEBHOOK, url="not a url", scopes=["userChat.opened", "nope"])
    return Scenario(
        ok=Req("POST", "/open/v5/webhooks", WEBHOOK),
        bad=Req("POST", "/open/v5/webhooks", bad),
        other_body=dict(WEBHOOK, name="Other"),
    )


def _webhook_action(method: str, body: Any = NO_BODY, bad: Any = NO_BODY) -> Recipe:
    async def recipe(api: httpx.AsyncClient) -> Scenario:
        found = await webhook(api)
        path = f"/open/v5/webhooks/{found['id']}"
        return Scenario(
            ok=Req(method, path, body),
            missing=Req(method, "/open/v5/webhooks/999999999", body),
            bad=None if bad is NO_BODY else Req(method, path, bad),
            other_body=NO_BODY if body is NO_BODY else {"name": "Again"},
            scoped=True,
        )

    return recipe


def _get(path: str) -> Recipe:
    async def recipe(api: httpx.AsyncClient) -> Scenario:
        return Scenario(ok=Req("GET", path))

    return recipe


RECIPES: dict[str, Recipe] = {
    "create_12": create_12,
    "showById_7": show_by_id,
    "patch_1": patch,
    "delete_10": delete_by_id,
    "showByMemberId_1": show_by_member_id,
    "upsertByMemberId_1": upsert,
    "deleteByMemberId_1": delete_by_member_id,
    "block_1": _user_action("POST", "block"),
    "unblock_1": _user_action("DELETE", "block"),
    "touch": _user_action("POST", "touch"),
    "showById_4": channel,
    "create_8": create_event,
    "events_1": list_events,
    "delete_8": delete_event,
    "issueUserToken": _user_action("PUT", "user-token/issue"),
    "issueUserTokenByMemberId": user_token_by_member_id,
    "issueSessionJWT": session_jwt,
    "index_15": list_webhooks,
    "create_13": create_webhook,
    "get_1": _webhook_action("GET"),
    "update_7": _webhook_action("PATCH", {"name": "Renamed"}, {"scopes": ["nope"]}),
    "delete_11": _webhook_action("DELETE"),
    "healthz": _get("/healthz"),
    "readyz": _get("/readyz"),
    "metrics": _get("/metrics"),
    "openapi": _get("/openapi.json"),
    "docs": _get("/docs"),
}

# Which kinds of request produce each documented status.
VARIANTS = {
    "200": ["ok"],
    "400": ["invalid", "malformed-json"],
    "401": ["no-keys", "wrong-secret"],
    "404": ["missing", "other-channel"],
    "412": ["stale-if-match"],
    "413": ["too-large"],
    "415": ["not-json"],
    "422": ["idempotency-key-reused"],
}
# Documented statuses no request here can produce on purpose, and why.
NOT_WALKED = {
    "409": "needs a first request still running when the retry arrives; not reproducible in-process",
    "429": "needs a channel driven over its rate limit; that has its own tests",
    "503": "needs a database that does not answer",
}


def _operation(operation_id: str) -> tuple[str, str, dict[str, Any]]:
    return next(o for o in operations(ours()) if o[2]["operationId"] == operation_id)


def _param_names(path: str, operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    params = ours()["paths"][path].get("parameters", []) + operation.get("parameters", [])
    return {p["name"]: p for p in (deref(ours(), p, "")[0] for p in params)}


def _applies(variant: str, path: str, operation: dict[str, Any]) -> bool:
    """Whether a variant can apply to an operation, judged from the document alone."""
    has_body = "requestBody" in operation
    if variant in {"malformed-json", "too-large", "not-json"}:
        return has_body
    if variant == "idempotency-key-reused":
        return has_body and "Idempotency-Key" in _param_names(path, operation)
    if variant == "stale-if-match":
        return "If-Match" in _param_names(path, operation)
    return True


def cases() -> list[tuple[str, str, str]]:
    found = []
    for _, path, operation in operations(ours()):
        for status in operation["responses"]:
            for variant in VARIANTS.get(status, []):
                if _applies(variant, path, operation):
                    found.append((operation["operationId"], variant, status))
    return found


def _planned_reason(operation_id: str, variant: str, status: str) -> str | None:
    method, path, operation = _operation(operation_id)
    if is_planned(operation):
        return f"{method} {path} is planned"
    response, _ = deref(ours(), operation["responses"][status], "")
    if is_planned(response):
        return f"{status} answers of {operation_id} are planned"
    params = _param_names(path, operation)
    needs = {"stale-if-match": "If-Match", "idempotency-key-reused": "Idempotency-Key"}.get(variant)
    if needs and is_planned(params[needs]):
        return f"{needs} is planned"
    return None


async def send(
    client: httpx.AsyncClient, req: Req, *, headers: dict[str, str] | None = None, keys: bool = True
) -> httpx.Response:
    kwargs: dict[str, Any] = {"headers": {**req.headers, **(headers or {})}}
    if req.content is not None:
        kwargs["content"] = req.content
    elif req.json is not NO_BODY:
        kwargs["json"] = req.json
    request = client.build_request(req.method, req.path, **kwargs)
    if not keys:
        del request.headers["x-access-key"]
        del request.headers["x-access-secret"]
    return await client.send(request)


def with_body(req: Req, content: bytes, content_type: str) -> Req:
    return Req(req.method, req.path, headers={"content-type": content_type}, content=content)


async def run_variant(
    variant: str, scenario: Scenario, api: httpx.AsyncClient, other_api: httpx.AsyncClient
) -> httpx.Response:
    ok = scenario.ok
    if variant == "ok":
        return await send(api, ok)
    if variant == "no-keys":
        return await send(api, ok, keys=False)
    if variant == "wrong-secret":
        return await send(api, ok, headers={"x-access-secret": "wrong"})
    if variant == "missing":
        assert scenario.missing is not None, "the recipe needs a `missing` request"
        return await send(api, scenario.missing)
    if variant == "other-channel":
        if not scenario.scoped:
            pytest.skip("the request names no resource of the channel")
        return await send(other_api, ok)
    if variant == "invalid":
        if scenario.bad is None:
            pytest.skip("no input of this operation can be invalid")
        return await send(api, scenario.bad)
    if variant == "malformed-json":
        return await send(api, with_body(ok, b'{"profile": {"name": ', "application/json"))
    if variant == "too-large":
        big = json.dumps({"profile": {"note": "x" * (1024 * 1024)}}).encode()
        return await send(api, with_body(ok, big, "application/json"))
    if variant == "not-json":
        # Upstream's document claims form encoding for POST /open/v5/users; the service takes JSON.
        return await send(api, with_body(ok, b"profile=x", "application/x-www-form-urlencoded"))
    if variant == "stale-if-match":
        return await send(api, ok, headers={"If-Match": '"999999"'})
    if variant == "idempotency-key-reused":
        first = await send(api, ok, headers={"Idempotency-Key": "key-1"})
        assert first.status_code == 200, first.text
        other = Req(ok.method, ok.path, scenario.other_body)
        return await send(api, other, headers={"Idempotency-Key": "key-1"})
    raise AssertionError(f"unknown variant {variant}")


# --- checking one answer --------------------------------------------------------------------------


def problems_with_ours(method: str, path: str, answer: httpx.Response) -> list[str]:
    """Where `answer` disagrees with our document for its operation and status."""
    found = find_operation(ours(), method, path)
    if found is None:
        return [f"{method} {path} is not in our document"]
    template, _ = found
    documented = response_at(ours(), template, method, answer.status_code)
    if documented is None:
        return [f"{answer.status_code} is not documented for {method} {template}"]
    return problems_with_response(documented, answer)


def problems_with_response(documented: tuple[dict[str, Any], str], answer: httpx.Response) -> list[str]:
    response, at = documented
    problems = []
    for name, header in response.get("headers", {}).items():
        header, header_at = deref(ours(), header, at + pointer("headers", name))
        value = answer.headers.get(name)
        if value is None:
            if header.get("required"):
                problems.append(f"header {name} is missing")
            continue
        schema = header.get("schema", {})
        parsed: Any = int(value) if schema.get("type") == "integer" and value.isdigit() else value
        problems += [f"header {name}: {e}" for e in schema_errors(OURS_URI, header_at + "/schema", parsed)]
    content = response.get("content", {})
    media_type = answer.headers.get("content-type", "").partition(";")[0].strip()
    if media_type not in content:
        return [*problems, f"content-type {media_type!r} is not one of {sorted(content)}"]
    schema_at = at + pointer("content", media_type, "schema")
    body = answer.json() if media_type == "application/json" else answer.text
    return problems + schema_errors(OURS_URI, schema_at, body)


def problems_with_upstream(method: str, template: str, answer: httpx.Response) -> list[str]:
    """Where a 2xx answer disagrees with upstream's schema for the operation (none if upstream has
    no such operation, or documents no body for it)."""
    operation = upstream()["paths"].get(template, {}).get(method.lower())
    if operation is None:
        return []
    schema = operation["responses"]["default"].get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return []
    at = pointer("paths", template, method.lower(), "responses", "default", "content", "application/json")
    return schema_errors(UPSTREAM_URI, at + "/schema", answer.json())


# --- the walk -------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation_id, variant, status", cases(), ids=["-".join(c) for c in cases()])
async def test_answer_matches_the_documents(
    api: httpx.AsyncClient, other_api: httpx.AsyncClient, operation_id: str, variant: str, status: str
) -> None:
    reason = _planned_reason(operation_id, variant, status)
    if reason:
        pytest.skip(reason)
    _, template, operation = _operation(operation_id)
    scenario = await RECIPES[operation_id](api)
    answer = await run_variant(variant, scenario, api, other_api)
    request = answer.request

    assert answer.status_code == int(status), f"{request.method} {request.url}: {answer.text}"
    path = request.url.raw_path.decode()
    assert find_operation(ours(), request.method, path) == (template, operation)
    assert problems_with_ours(request.method, path, answer) == []
    if answer.is_success:
        assert problems_with_upstream(request.method, template, answer) == []
    body = answer.json() if answer.headers["content-type"].startswith("application/json") else None
    if answer.is_success and isinstance(body, dict) and "user" in body:
        assert answer.headers["etag"] == f'"{body["user"]["version"]}"'


HTTP_METHODS = ("put", "delete", "post", "patch", "get")


def _paths_with_missing_methods() -> list[tuple[str, str]]:
    """(path, a method the path does not document) for every path that serves something."""
    found = []
    for path, item in ours()["paths"].items():
        if not any(m in item and not is_planned(item[m]) for m in HTTP_METHODS):
            continue
        absent = [m for m in HTTP_METHODS if m not in item]
        if absent:
            found.append((path, absent[0].upper()))
    return found


@pytest.mark.parametrize("path, method", _paths_with_missing_methods())
async def test_method_not_allowed_matches_our_document(
    api: httpx.AsyncClient, path: str, method: str
) -> None:
    concrete = path.replace("{userId}", UNKNOWN_ID).replace("{memberId}", "member-1")
    answer = await api.request(method, concrete)
    assert answer.status_code == 405, answer.text
    responses = ours()["components"]["responses"]
    documented = deref(ours(), responses["MethodNotAllowed"], "/components/responses/MethodNotAllowed")
    assert problems_with_response(documented, answer) == []
    if "allow" in answer.headers:
        item = ours()["paths"][path]
        served = {m.upper() for m in HTTP_METHODS if m in item and not is_planned(item[m])}
        assert set(answer.headers["allow"].replace(" ", "").split(",")) - {"HEAD", "OPTIONS"} == served


async def test_unknown_path_matches_our_document(api: httpx.AsyncClient) -> None:
    answer = await api.get("/open/v5/managers")
    assert answer.status_code == 404
    documented = deref(
        ours(), ours()["components"]["responses"]["NotFound"], "/components/responses/NotFound"
    )
    assert problems_with_response(documented, answer) == []


async def test_bad_request_reports_every_field(api: httpx.AsyncClient) -> None:
    user = await member(api)
    answer = await api.patch(f"/open/v5/users/{user['id']}", json=BAD_USER_BODY)
    assert answer.status_code == 400
    fields = {e.get("field") for e in answer.json()["errors"]}
    assert {"profile.mobileNumber", "profile.1bad", "tags[0]", "nope"} <= fields


# --- the cases cover the document ----------------------------------------------------------------


def test_every_operation_has_a_recipe() -> None:
    assert {o["operationId"] for _, _, o in operations(ours())} == set(RECIPES)


def test_every_documented_status_is_walked_or_excused() -> None:
    walked = {(op, status) for op, _, status in cases()}
    for _, _, operation in operations(ours()):
        for status in operation["responses"]:
            key = (operation["operationId"], status)
            assert key in walked or status in NOT_WALKED, f"nothing produces {key}"


def test_upstream_any_value_maps_are_relaxed_only_there() -> None:
    profile = upstream()["components"]["schemas"]["open.OpenApiUserDto"]["properties"]["profile"]
    assert profile["additionalProperties"] == {}
    assert profile["properties"]["name"] == {"type": "string"}  # the typed keys stay checked
    user = {"user": {"id": UNKNOWN_ID, "profile": {"plan": "pro", "name": 1}}}
    errors = schema_errors(UPSTREAM_URI, "/components/schemas/open.v5.UserView", user)
    assert errors == ["user/profile/name: 1 is not of type 'string'"]


def test_upstream_channel_schema_requires_what_we_answer() -> None:
    required = upstream()["components"]["schemas"]["Channel"]["required"]
    assert set(required) <= set(ours()["components"]["schemas"]["Channel"]["required"])
