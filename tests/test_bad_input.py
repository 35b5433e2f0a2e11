"""A catalogue of bad requests: each is a 4xx whose errors name a field, and the stored user is
byte-identical before and after. Requests go straight to the ASGI app so that raw paths (dot
segments, encoded slashes) reach it exactly as a client could send them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channel_users.app import create_app
from channel_users.bodies import duplicate_key
from channel_users.store import Credentials, Store

from .dbutil import count, fetch_all

VICTIM = "victim"
JSON = "application/json"


@dataclass(frozen=True)
class Bad:
    name: str
    body: bytes = b"{}"
    field: str = "body"
    status: int = 400
    method: str = "PATCH"
    path: str = "{user}"  # under /open/v5/users/; {user} is the victim's id
    content_type: str | None = JSON
    headers: tuple[tuple[str, str], ...] = ()
    chunked: bool = False


def _profile(value: Any) -> bytes:
    return json.dumps({"profile": value}).encode()


MB10 = b'{"profile": {"a": "' + b"x" * (10 * 1024 * 1024) + b'"}}'
MANY_KEYS = b'{"profile": {' + b",".join(b'"k%d":0' % i for i in range(100_000)) + b"}}"

CATALOGUE = [
    # malformed and truncated JSON
    Bad("malformed", b"{"),
    Bad("truncated", b'{"profile": {"name": "K'),
    Bad("trailing garbage", b"{} x"),
    Bad("empty body", b""),
    Bad("whitespace body", b"  \n "),
    Bad("byte order mark", b'\xef\xbb\xbf{"tags": []}'),
    Bad("invalid utf-8", b'{"profile": {"name": "\xff"}}'),
    Bad("single quotes", b"{'tags': []}"),
    Bad("trailing comma", b'{"tags": [],}'),
    # not an object
    Bad("array body", b"[]"),
    Bad("string body", b'"profile"'),
    Bad("null body", b"null"),
    Bad("number body", b"42"),
    # numbers
    Bad("NaN", b'{"profile": {"a": NaN}}'),
    Bad("Infinity", b'{"profile": {"a": Infinity}}'),
    Bad("minus Infinity", b'{"profile": {"a": -Infinity}}'),
    Bad("float overflow", b'{"profile": {"a": 1e400}}'),
    Bad("int over 64 bits", b'{"profile": {"a": 18446744073709551616}}', "profile.a"),
    Bad("negative int over 64 bits", _profile({"a": -(2**70)}), "profile.a"),
    Bad("5000 digit int", b'{"profile": {"a": ' + b"9" * 5000 + b"}}"),
    Bad("count over 32 bits", _profile({"recentPurchaseCount": 2**40}), "profile.recentPurchaseCount"),
    # strings and surrogates
    Bad("lone surrogate value", b'{"profile": {"a": "\\ud800"}}'),
    Bad("lone surrogate key", b'{"profile": {"\\udc00": 1}}'),
    Bad("value over 1024", _profile({"a": "x" * 1025}), "profile.a"),
    Bad("key over 64", _profile({"k" * 65: 1}), "profile." + "k" * 65),
    Bad("key starts with digit", _profile({"1a": 1}), "profile.1a"),
    Bad("key with dash", _profile({"a-b": 1}), "profile.a-b"),
    Bad("empty key", _profile({"": 1}), "profile."),
    # wrong types and nesting
    Bad("profile string", _profile("name"), "profile"),
    Bad("profile array", _profile([1]), "profile"),
    Bad("nested object value", _profile({"a": {"b": 1}}), "profile.a"),
    Bad("nested array value", _profile({"a": [1]}), "profile.a"),
    Bad("deep nesting", b'{"profile": {"a": ' + b"[" * 10_000 + b"]" * 10_000 + b"}}"),
    Bad("name number", _profile({"name": 123}), "profile.name"),
    Bad("phone unparseable", _profile({"mobileNumber": "call me"}), "profile.mobileNumber"),
    Bad("count string", _profile({"recentPurchaseCount": "3"}), "profile.recentPurchaseCount"),
    Bad("amount bool", _profile({"recentPurchaseAmount": True}), "profile.recentPurchaseAmount"),
    Bad("profileOnce array", b'{"profileOnce": [1]}', "profileOnce"),
    Bad("tags string", b'{"tags": "a,b"}', "tags"),
    Bad("tag number", b'{"tags": [1]}', "tags[0]"),
    Bad("tag null", b'{"tags": [null]}', "tags[0]"),
    Bad("tag empty", b'{"tags": ["  "]}', "tags[0]"),
    Bad("tag over 50", b'{"tags": ["' + b"t" * 51 + b'"]}', "tags[0]"),
    Bad("21 tags", json.dumps({"tags": [f"t{i}" for i in range(21)]}).encode(), "tags"),
    Bad("flag string", b'{"unsubscribeEmail": "yes"}', "unsubscribeEmail"),
    Bad("flag number", b'{"blocked": 1}', "blocked"),
    Bad("language number", b'{"language": 123}', "language"),
    Bad("unknown field", b'{"profile": {}, "isAdmin": true}', "isAdmin"),
    # sizes
    Bad("501 keys", _profile({f"k{i}": i for i in range(501)}), "profile"),
    Bad("100,000 keys", MANY_KEYS, status=413),
    Bad("10 MB declared", MB10, status=413),
    Bad("10 MB chunked", MB10, status=413, chunked=True),
    # duplicate JSON keys
    Bad("duplicate top-level key", b'{"profile": {"a": 1}, "profile": {"a": 2}}', "profile"),
    Bad("duplicate profile key", b'{"profile": {"name": "A", "name": "B"}}', "profile.name"),
    Bad("duplicate key beside escaped colon", b'{"profile": {"a": 1, "a": 2, "b": "\\u003a"}}', "profile.a"),
    Bad("duplicate key in PUT", b'{"tags": ["x"], "tags": []}', "tags", method="PUT", path="@" + VICTIM),
    # content types
    Bad("text/plain", b'{"tags": []}', "Content-Type", 415, content_type="text/plain"),
    Bad("no content type", b'{"tags": []}', "Content-Type", 415, content_type=None),
    Bad("form encoded", b"tags=a", "Content-Type", 415, content_type="application/x-www-form-urlencoded"),
    Bad("json-ish type", b'{"tags": []}', "Content-Type", 415, content_type="application/jsonx"),
    # headers of our additions
    Bad("bad If-Match", b'{"tags": []}', "If-Match", headers=(("if-match", "v1"),)),
    Bad("stale If-Match", b'{"tags": []}', "If-Match", 412, headers=(("if-match", '"99"'),)),
    Bad(
        "long Idempotency-Key", b'{"tags": []}', "Idempotency-Key", headers=(("idempotency-key", "k" * 300),)
    ),
    # path tricks in memberId
    Bad("dot-dot then segment", path="@../x", field="path", status=404, method="PUT"),
    Bad("encoded slash", path="@..%2Fx", field="memberId", method="PUT"),
    Bad("encoded slash in name", path="@a%2Fb", field="memberId", method="PUT"),
    Bad("encoded dot-dot", path="@%2e%2e", field="memberId", method="PUT"),
    Bad("victim then encoded slash", path=f"@{VICTIM}%2F..", field="memberId", method="PUT"),
    Bad("dot segment to victim", path=f"@x/../@{VICTIM}", field="path", status=404, method="PUT"),
    Bad("NUL in memberId", path="@a%00b", field="memberId", method="PUT"),
    Bad("empty memberId", path="@", field="memberId", method="PUT"),
    Bad("memberId over 255", path="@" + "m" * 256, field="memberId", method="PUT"),
    Bad("memberId not utf-8", path="@%FF", field="memberId", method="PUT"),
    Bad("memberId not utf-8 on GET", path="@%FE", field="memberId", method="GET", content_type=None),
    Bad("memberId not utf-8 on DELETE", path="@%FF", field="memberId", method="DELETE", content_type=None),
]


async def _call(
    app: Any, bad: Bad, raw_path: bytes, auth: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    headers = [(k.encode(), v.encode()) for k, v in auth.items()]
    if bad.content_type is not None:
        headers.append((b"content-type", bad.content_type.encode()))
    if not bad.chunked:
        headers.append((b"content-length", str(len(bad.body)).encode()))
    headers += [(k.encode(), v.encode()) for k, v in bad.headers]
    path, _, query = raw_path.partition(b"?")
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": bad.method,
        "scheme": "http", "path": path.decode("latin-1"), "raw_path": path, "query_string": query,
        "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }  # fmt: skip
    chunk = 64 * 1024
    pieces = [bad.body[i : i + chunk] for i in range(0, len(bad.body), chunk)] or [b""]
    sent: dict[str, Any] = {"status": 0, "headers": {}, "body": b""}

    async def receive() -> dict[str, Any]:
        if pieces:
            piece = pieces.pop(0)
            return {"type": "http.request", "body": piece, "more_body": bool(pieces)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
            sent["headers"] = {k.decode(): v.decode() for k, v in message["headers"]}
        else:
            sent["body"] += message.get("body", b"")

    await app(scope, receive, send)
    return sent["status"], sent["headers"], sent["body"]


@pytest.fixture
async def victim(store: Store, channel: Credentials) -> AsyncIterator[tuple[Any, str, dict[str, str]]]:
    app = create_app(store)
    auth = {"x-access-key": channel.access_key, "x-access-secret": channel.access_secret}
    put = Bad(
        "setup", json.dumps({"profile": {"name": "Vic", "email": "v@example.com"}, "tags": ["t"]}).encode()
    )
    status, _, body = await _call(
        app, Bad(**{**put.__dict__, "method": "PUT"}), f"/open/v5/users/@{VICTIM}".encode(), auth
    )
    assert status == 200, body
    yield app, json.loads(body)["user"]["id"], auth


def test_catalogue_has_at_least_40_distinct_cases() -> None:
    assert len({bad.name for bad in CATALOGUE}) == len(CATALOGUE) >= 40


@pytest.mark.parametrize("bad", CATALOGUE, ids=[bad.name for bad in CATALOGUE])
async def test_bad_request_is_4xx_naming_a_field_and_changes_nothing(
    victim: tuple[Any, str, dict[str, str]], bad: Bad, database_url: str
) -> None:
    app, user_id, auth = victim
    get = Bad("get", method="GET", content_type=None)
    user_path = f"/open/v5/users/{user_id}".encode()
    before = await _call(app, get, user_path, auth)
    users_before = await fetch_all(database_url, "SELECT id, version, doc FROM users ORDER BY id")
    raw_path = ("/open/v5/users/" + bad.path.format(user=user_id)).encode()
    status, headers, body = await _call(app, bad, raw_path, auth)
    assert status == bad.status, body[:300]
    error = json.loads(body)
    assert error["status"] == status and isinstance(error["type"], str)
    assert error["errors"] and all("field" in e and e["message"] for e in error["errors"])
    assert bad.field in [e["field"] for e in error["errors"]], error
    assert headers["content-type"] == "application/json"
    after = await _call(app, get, user_path, auth)
    assert after == before
    assert await fetch_all(database_url, "SELECT id, version, doc FROM users ORDER BY id") == users_before
    assert await count(database_url, "users") == 1


_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(alphabet=':a\\"x\u003a', max_size=6)
)
_keys = st.text(alphabet="ab:", min_size=1, max_size=3)


@st.composite
def _object_text(draw: st.DrawFn, depth: int = 2) -> tuple[str, bool]:
    """JSON object text built from member pairs, perhaps with duplicate keys; (text, has duplicates)."""
    keys = draw(st.lists(_keys, max_size=5))
    parts: list[str] = []
    duplicated = len(set(keys)) < len(keys)
    for key in keys:
        if depth > 0 and draw(st.booleans()):
            inner, inner_dup = draw(_object_text(depth - 1))
            duplicated = duplicated or inner_dup
            value = inner
        else:
            raw = json.dumps(draw(_scalars))
            value = raw.replace(":", "\\u003a") if draw(st.booleans()) else raw
        parts.append(f"{json.dumps(key)}: {value}")
    return "{" + ", ".join(parts) + "}", duplicated


@settings(max_examples=300, deadline=None)
@given(_object_text())
def test_duplicate_key_is_found_exactly_when_present(case: tuple[str, bool]) -> None:
    text, duplicated = case
    body = text.encode()
    assert (duplicate_key(body, msgspec.json.decode(body)) is not None) == duplicated
