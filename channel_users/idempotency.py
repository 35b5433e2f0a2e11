"""`Idempotency-Key` on POST, PUT and PATCH (our addition, SPEC section 7).

A retry with the same key and the same request replays the first answer, status included; the same
key with another request is a 422; while the first request is still running, a 409. Keys are kept
in the database (so they hold across server processes) for 24 hours, per channel.

The claim commits before the request runs, so that a concurrent retry sees it. A user write records
its answer in the same transaction as its change (the store's `key` argument), so a crash leaves
either both or neither; a claim whose request died is taken over by a retry after KEY_LEASE_MS.
Any other answer under 500 (a 404, a 400, a 412) is recorded after it is built; a 5xx is not
recorded, and the key is released so that a retry runs again.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from .bodies import raw_body
from .errors import BadRequest, Conflict, FieldError, UnprocessableEntity
from .ids import now_ms
from .store import Store
from .store.base import Answer, KeyUse, Stored

HEADER = "idempotency-key"
FIELD = "Idempotency-Key"
METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_KEY_LENGTH = 255
REPLAYED = "idempotent-replayed"  # set to "true" on a replayed answer
# Headers of an answer that are part of what a replay repeats.
KEPT_HEADERS = ("etag", "allow", "retry-after")
JSON = "application/json"

RUNNING = "a request with this Idempotency-Key is still running; retry later"
MISMATCH = "this Idempotency-Key was used for a different request"
INVALID_KEY = "must be 1 to 255 printable ASCII characters"


def user_answer(stored: Stored) -> Answer:
    """`{"user": ...}` with an ETag of its version: the answer of every user write."""
    return Answer(200, {"etag": f'"{stored.version}"'}, b'{"user":' + stored.doc + b"}")


def wanted(request: Request) -> bool:
    return request.method in METHODS and HEADER in request.headers


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isascii() and key.isprintable()


def fingerprint_of(method: str, path: bytes, query: bytes, headers: dict[str, str], body: bytes) -> bytes:
    """What makes two requests "the same": method, raw path and query, the If-Match and
    Content-Type headers, and the body's bytes."""
    digest = hashlib.sha256()
    for part in (
        method.encode(),
        path,
        query,
        headers.get("if-match", "").encode(),
        headers.get("content-type", "").encode(),
        body,
    ):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.digest()


async def fingerprint(request: Request) -> bytes:
    return fingerprint_of(
        request.method,
        request.scope.get("raw_path", b"").split(b"?")[0],
        request.scope.get("query_string", b""),
        {name: request.headers[name] for name in ("if-match", "content-type") if name in request.headers},
        await raw_body(request),
    )


def replay(answer: Answer) -> Response:
    headers = {**answer.headers, REPLAYED: "true"}
    return Response(answer.body, status_code=answer.status, media_type=JSON, headers=headers)


async def run(
    request: Request,
    store: Store,
    channel_id: str,
    respond: Callable[[KeyUse], Awaitable[Response]],
) -> Response:
    """Answers the request under its Idempotency-Key: `respond(use)` runs it the first time.

    Raises BadRequest for a malformed key, Conflict while the key is held, UnprocessableEntity
    when it was used for another request (and PayloadTooLarge while reading the body).
    """
    key = request.headers[HEADER]
    if not _valid_key(key):
        raise BadRequest(FieldError(INVALID_KEY, FIELD))
    use = KeyUse(channel_id, key, secrets.token_hex(16), user_answer)
    claim = await store.claim_key(channel_id, key, await fingerprint(request), use.token, now_ms())
    if claim.state == "running":
        raise Conflict(FieldError(RUNNING, FIELD))
    if claim.state == "mismatch":
        raise UnprocessableEntity(FieldError(MISMATCH, FIELD))
    if claim.state == "done":
        assert claim.answer is not None
        return replay(claim.answer)
    try:
        response = await respond(use)
    except BaseException:
        await store.release_key(use)
        raise
    if not use.recorded:
        if response.status_code >= 500:
            await store.release_key(use)
        else:
            kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
            await store.finish_key(use, Answer(response.status_code, kept, bytes(response.body)))
    return response
