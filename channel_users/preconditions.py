"""`If-Match` on PATCH, PUT and DELETE (our addition, SPEC section 7).

A user's entity tag is its version in quotes, `"7"`, as `ETag` answers it. The check runs inside the
store's write, under the row lock, so no other write can slip in between the comparison and the
change it guards.
"""

from __future__ import annotations

from starlette.requests import Request

from .errors import BadRequest, FieldError, PreconditionFailed
from .store.base import UserChange, VersionCheck

MAX_TAGS = 64


def expected_versions(request: Request) -> frozenset[int] | None:
    """The versions `If-Match` accepts; None when the header is absent or `*` (any existing user).

    Weak tags (`W/"7"`) compare like strong ones: a version names one exact state of the user.
    Raises BadRequest naming `If-Match` when the header is not a list of entity tags.
    """
    header = request.headers.get("if-match")
    if header is None or header.strip() == "*":
        return None
    versions: set[int] = set()
    for part in header.split(","):
        tag = part.strip().removeprefix("W/")
        inner = tag[1:-1] if len(tag) >= 2 and tag[0] == tag[-1] == '"' else ""
        if not inner.isdigit() or not inner.isascii() or len(inner) > 19 or len(versions) >= MAX_TAGS:
            raise BadRequest(FieldError('must be a list of entity tags such as "7"', "If-Match"))
        versions.add(int(inner))
    return frozenset(versions)


def version_check(request: Request) -> VersionCheck | None:
    """A check to run on the current version under the row lock, or None without `If-Match`.

    The check raises PreconditionFailed carrying the current version (in the message and as `ETag`).
    """
    header = request.headers.get("if-match")
    if header is None:
        return None
    versions = expected_versions(request)

    def check(current: int | None) -> None:
        if current is not None and (versions is None or current in versions):
            return
        if current is None:  # `If-Match` on an absent resource never matches (RFC 9110 13.1.1)
            raise PreconditionFailed(FieldError("the user does not exist", "If-Match"))
        raise PreconditionFailed(
            FieldError(f"If-Match does not match the current version {current}", "If-Match"),
            headers={"etag": f'"{current}"'},
        )

    return check


def guarded(check: VersionCheck | None, change: UserChange) -> UserChange:
    """`change`, preceded by `check` of the user's current version."""
    if check is None:
        return change

    def run(user: dict[str, object]) -> dict[str, object] | None:
        version = user["version"]
        assert isinstance(version, int)
        check(version)
        return change(user)

    return run
