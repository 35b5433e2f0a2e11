"""Retry and error behaviour of the client, against scripted answers (httpx.MockTransport)."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from channel_users.client import AsyncClient, Client
from channel_users.client_errors import (
    AuthenticationError,
    BadRequestError,
    ClientError,
    ConflictError,
    DecodeError,
    NotFoundError,
    PreconditionFailedError,
    RateLimitError,
    ServerError,
    StatusError,
    TransportError,
    UnprocessableEntityError,
)
from channel_users.client_retry import (
    INITIAL_BACKOFF,
    MAX_RETRY_AFTER,
    backoff,
    can_retry,
    retry_after,
)

USER = {"id": "5f0c1435e68c92da02fd", "channelId": "1", "type": "lead", "version": 1}
Answer = httpx.Response | Exception


def user_answer() -> httpx.Response:
    return httpx.Response(200, json={"user": USER})


def error_answer(status: int, type_: str, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"type": type_, "status": status, "errors": [{"message": f"{type_} happened"}]}
    return httpx.Response(status, json=body, headers=headers)


class Script:
    """A transport handler answering from a list, recording every request it gets."""

    def __init__(self, *answers: Answer) -> None:
        self.answers: Iterator[Answer] = iter(answers)
        self.requests: list[httpx.Request] = []
        # Headers as they were at each send: a retry may resend the very same Request object.
        self.headers: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.headers.append(dict(request.headers))
        answer = next(self.answers)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(script: Script, max_retries: int = 2) -> tuple[Client, list[float]]:
    client = Client(
        "key",
        "secret",
        "http://api.test",
        max_retries=max_retries,
        transport=httpx.MockTransport(script),
    )
    sleeps: list[float] = []
    client._sleep = sleeps.append
    return client, sleeps


def make_async_client(script: Script, max_retries: int = 2) -> tuple[AsyncClient, list[float]]:
    async def handler(request: httpx.Request) -> httpx.Response:
        return script(request)

    client = AsyncClient(
        "key",
        "secret",
        "http://api.test",
        max_retries=max_retries,
        transport=httpx.MockTransport(handler),
    )
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client._sleep = sleep
    return client, sleeps


# Retries


def test_get_retried_after_5xx_then_answers() -> None:
    script = Script(error_answer(503, "service_unavailable"), error_answer(500, "x"), user_answer())
    client, sleeps = make_client(script)
    user = client.users.get(USER["id"])
    assert user.id == USER["id"]
    assert len(script.requests) == 3
    assert INITIAL_BACKOFF / 2 <= sleeps[0] <= INITIAL_BACKOFF
    assert INITIAL_BACKOFF <= sleeps[1] <= 2 * INITIAL_BACKOFF


def test_get_gives_up_after_max_retries_with_server_error() -> None:
    script = Script(*[error_answer(502, "bad_gateway")] * 3)
    client, sleeps = make_client(script, max_retries=2)
    with pytest.raises(ServerError) as info:
        client.users.get(USER["id"])
    assert len(script.requests) == 3
    assert len(sleeps) == 2
    assert info.value.status == 502


def test_max_retries_zero_sends_once() -> None:
    script = Script(error_answer(503, "service_unavailable"))
    client, sleeps = make_client(script, max_retries=0)
    with pytest.raises(ServerError):
        client.users.get(USER["id"])
    assert len(script.requests) == 1
    assert sleeps == []


def test_429_waits_retry_after_seconds() -> None:
    script = Script(error_answer(429, "too_many_requests", {"Retry-After": "2"}), user_answer())
    client, sleeps = make_client(script)
    client.users.get(USER["id"])
    assert len(sleeps) == 1
    assert 2.0 <= sleeps[0] <= 2.0 + INITIAL_BACKOFF


def test_429_waits_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    script = Script(error_answer(429, "too_many_requests", {"Retry-After": when}), user_answer())
    client, sleeps = make_client(script)
    client.users.get(USER["id"])
    assert 8.0 <= sleeps[0] <= 10.0 + INITIAL_BACKOFF


def test_429_waits_until_ratelimit_reset_without_retry_after() -> None:
    reset = str(int(time.time()) + 5)
    script = Script(error_answer(429, "too_many_requests", {"x-ratelimit-reset": reset}), user_answer())
    client, sleeps = make_client(script)
    client.users.get(USER["id"])
    assert 3.5 <= sleeps[0] <= 5.0 + INITIAL_BACKOFF


def test_429_asking_too_long_a_wait_is_raised_at_once() -> None:
    wait = str(int(MAX_RETRY_AFTER) + 1)
    script = Script(error_answer(429, "too_many_requests", {"Retry-After": wait}))
    client, sleeps = make_client(script)
    with pytest.raises(RateLimitError) as info:
        client.users.get(USER["id"])
    assert sleeps == []
    assert info.value.retry_after == MAX_RETRY_AFTER + 1


def test_429_without_headers_backs_off() -> None:
    script = Script(error_answer(429, "too_many_requests"), user_answer())
    client, sleeps = make_client(script)
    client.users.get(USER["id"])
    assert INITIAL_BACKOFF / 2 <= sleeps[0] <= INITIAL_BACKOFF


def test_connection_error_retried_then_answers() -> None:
    script = Script(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), user_answer())
    client, sleeps = make_client(script)
    assert client.users.get(USER["id"]).id == USER["id"]
    assert len(script.requests) == 3
    assert len(sleeps) == 2


def test_connection_errors_exhausted_raise_transport_error() -> None:
    script = Script(*[httpx.ConnectError("connection refused")] * 3)
    client, _ = make_client(script)
    with pytest.raises(TransportError) as info:
        client.users.get(USER["id"])
    error = info.value
    assert isinstance(error.__cause__, httpx.ConnectError)
    assert error.status is None and error.type is None and error.response is None
    assert error.request.url == f"http://api.test/open/v5/users/{USER['id']}"
    assert str(error) == "no answer from api.test: connection refused"


def test_non_network_transport_error_is_not_retried() -> None:
    script = Script(httpx.LocalProtocolError("bad header"))
    client, sleeps = make_client(script)
    with pytest.raises(TransportError):
        client.users.get(USER["id"])
    assert len(script.requests) == 1
    assert sleeps == []


def test_4xx_is_not_retried() -> None:
    script = Script(error_answer(404, "not_found"))
    client, sleeps = make_client(script)
    with pytest.raises(NotFoundError):
        client.users.get(USER["id"])
    assert len(script.requests) == 1
    assert sleeps == []


def test_delete_is_retried() -> None:
    script = Script(httpx.ConnectError("reset"), httpx.Response(200, json={}))
    client, _ = make_client(script)
    assert client.users.delete(USER["id"]) is None
    assert [r.method for r in script.requests] == ["DELETE", "DELETE"]


@pytest.mark.parametrize(
    ("call", "method"),
    [
        (lambda c: c.users.patch(USER["id"], tags=["a"]), "PATCH"),
        (lambda c: c.users.upsert("m-1", profile={"name": "A"}), "PUT"),
        (lambda c: c.users.create_lead({"name": "A"}), "POST"),
        (lambda c: c.users.block(USER["id"]), "POST"),
        (lambda c: c.users.touch(USER["id"]), "POST"),
    ],
)
def test_writes_retried_with_one_idempotency_key(call: Callable[[Client], Any], method: str) -> None:
    script = Script(error_answer(503, "x"), httpx.ConnectError("reset"), user_answer())
    client, _ = make_client(script)
    call(client)
    assert [r.method for r in script.requests] == [method] * 3
    keys = {h["idempotency-key"] for h in script.headers}
    assert len(keys) == 1
    assert [r.content for r in script.requests] == [script.requests[0].content] * 3


def test_each_call_gets_its_own_idempotency_key() -> None:
    script = Script(user_answer(), user_answer())
    client, _ = make_client(script)
    client.users.touch(USER["id"])
    client.users.touch(USER["id"])
    first, second = (h["idempotency-key"] for h in script.headers)
    assert first != second


def test_reads_carry_no_idempotency_key() -> None:
    script = Script(user_answer())
    client, _ = make_client(script)
    client.users.get(USER["id"])
    assert "idempotency-key" not in script.headers[0]


def test_can_retry_writes_only_with_idempotency_key() -> None:
    def request(method: str, headers: dict[str, str] | None = None) -> httpx.Request:
        return httpx.Request(method, "http://api.test/x", headers=headers)

    assert can_retry(request("GET"))
    assert can_retry(request("DELETE"))
    for method in ("POST", "PUT", "PATCH"):
        assert not can_retry(request(method))
        assert can_retry(request(method, {"Idempotency-Key": "k"}))


def test_backoff_grows_exponentially_and_is_capped() -> None:
    for attempt, ceiling in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (10, 8.0)]:
        samples = [backoff(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert len(set(samples)) > 1  # jittered


def test_retry_after_reads_milliseconds_reset() -> None:
    now = 1_700_000_000.0
    response = httpx.Response(429, headers={"x-ratelimit-reset": str(int((now + 4) * 1000))})
    assert retry_after(response, now=now) == pytest.approx(4.0)
    assert retry_after(httpx.Response(429, headers={"Retry-After": "soon"}), now=now) is None
    assert retry_after(httpx.Response(429), now=now) is None


async def test_async_get_retried_after_429_and_5xx() -> None:
    script = Script(
        error_answer(429, "too_many_requests", {"Retry-After": "1"}),
        error_answer(500, "x"),
        user_answer(),
    )
    client, sleeps = make_async_client(script)
    async with client:
        user = await client.users.get(USER["id"])
    assert user.id == USER["id"]
    assert len(script.requests) == 3
    assert 1.0 <= sleeps[0] <= 1.0 + INITIAL_BACKOFF


async def test_async_patch_retried_with_one_idempotency_key() -> None:
    script = Script(httpx.ConnectError("reset"), error_answer(502, "x"), user_answer())
    client, sleeps = make_async_client(script)
    async with client:
        await client.users.patch(USER["id"], profile={"name": "A"})
    assert len({h["idempotency-key"] for h in script.headers}) == 1
    assert len(sleeps) == 2


async def test_async_transport_errors_exhausted_raise() -> None:
    script = Script(*[httpx.ConnectError("refused")] * 2)
    client, _ = make_async_client(script, max_retries=1)
    async with client:
        with pytest.raises(TransportError):
            await client.users.touch(USER["id"])
    assert len(script.requests) == 2


# Errors


@pytest.mark.parametrize(
    ("status", "type_", "cls"),
    [
        (400, "bad_request", BadRequestError),
        (401, "unauthorized", AuthenticationError),
        (404, "not_found", NotFoundError),
        (405, "method_not_allowed", StatusError),
        (409, "conflict", ConflictError),
        (412, "precondition_failed", PreconditionFailedError),
        (413, "payload_too_large", StatusError),
        (415, "unsupported_media_type", StatusError),
        (422, "unprocessable_entity", UnprocessableEntityError),
        (429, "too_many_requests", RateLimitError),
        (500, "internal_server_error", ServerError),
        (504, "gateway_timeout", ServerError),
    ],
)
def test_error_status_raises_its_class(status: int, type_: str, cls: type[StatusError]) -> None:
    script = Script(error_answer(status, type_))
    client, _ = make_client(script, max_retries=0)
    with pytest.raises(cls) as info:
        client.users.patch(USER["id"], tags=["a"])
    error = info.value
    assert type(error) is cls
    assert isinstance(error, ClientError)
    assert error.status == status
    assert error.type == type_
    assert [(e.message, e.field) for e in error.errors] == [(f"{type_} happened", None)]
    assert error.request is script.requests[0]
    assert error.response is not None and error.response.status_code == status
    assert str(error) == f"{status} {type_}: {type_} happened"


def test_bad_request_carries_each_field_error() -> None:
    body = {
        "type": "bad_request",
        "status": 400,
        "errors": [
            {"message": "not a phone number", "field": "profile.mobileNumber"},
            {"message": "empty tag", "field": "tags[1]"},
            {"message": "too long", "field": "tags[1]"},
            {"message": "something else"},
        ],
    }
    script = Script(httpx.Response(400, json=body))
    client, _ = make_client(script)
    with pytest.raises(BadRequestError) as info:
        client.users.patch(USER["id"], profile={"mobileNumber": "x"}, tags=["a", ""])
    error = info.value
    assert error.field_errors == {
        "profile.mobileNumber": ["not a phone number"],
        "tags[1]": ["empty tag", "too long"],
    }
    assert [str(e) for e in error.errors] == [
        "profile.mobileNumber: not a phone number",
        "tags[1]: empty tag",
        "tags[1]: too long",
        "something else",
    ]
    assert str(error).startswith("400 bad_request: profile.mobileNumber: not a phone number; ")


def test_rate_limit_error_carries_retry_after() -> None:
    script = Script(error_answer(429, "too_many_requests", {"Retry-After": "7"}))
    client, _ = make_client(script, max_retries=0)
    with pytest.raises(RateLimitError) as info:
        client.users.get(USER["id"])
    assert info.value.retry_after == 7.0


def test_error_without_json_body_uses_the_text() -> None:
    script = Script(httpx.Response(502, text="<html>Bad Gateway</html>"))
    client, _ = make_client(script, max_retries=0)
    with pytest.raises(ServerError) as info:
        client.users.get(USER["id"])
    assert info.value.type is None
    assert info.value.errors[0].message == "<html>Bad Gateway</html>"
    assert str(info.value) == "502 error: <html>Bad Gateway</html>"


def test_error_with_empty_body_uses_the_reason_phrase() -> None:
    script = Script(httpx.Response(503))
    client, _ = make_client(script, max_retries=0)
    with pytest.raises(ServerError) as info:
        client.users.get(USER["id"])
    assert info.value.errors[0].message == "Service Unavailable"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, text="not json"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json={"users": []}),
        httpx.Response(200, json={"user": {"id": 5}}),
    ],
)
def test_unexpected_success_body_raises_decode_error(answer: httpx.Response) -> None:
    script = Script(answer)
    client, _ = make_client(script)
    with pytest.raises(DecodeError) as info:
        client.users.get(USER["id"])
    assert info.value.status == 200
    assert info.value.request is script.requests[0]


async def test_async_error_raises_its_class() -> None:
    script = Script(error_answer(412, "precondition_failed"))
    client, _ = make_async_client(script)
    async with client:
        with pytest.raises(PreconditionFailedError) as info:
            await client.users.delete(USER["id"], if_match=3)
    assert info.value.request.headers["If-Match"] == '"3"'
