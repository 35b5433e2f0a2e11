"""User tokens and session JWTs (SPEC section 2), signed HS256 with the channel's own key.

Claims (our decision; upstream does not publish its token format):

    iss        "channel-users"
    aud        "channel-users:user-token" or "channel-users:session"
    sub        the user's id
    channelId  the channel's id
    memberId   the member's memberId (session JWTs always; user tokens when the user has one)
    iat, exp   epoch seconds; `disableAt` / `expiresAt` in the answer are `exp` in milliseconds
    jti        a random id, so two tokens issued in the same second differ

A holder of the channel's key (`Store.signing_key`) verifies a token with
`jwt.decode(token, key, algorithms=["HS256"], audience=..., issuer="channel-users")`.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

import jwt

from .errors import BadRequest, FieldError

ISSUER = "channel-users"
USER_TOKEN_AUDIENCE = "channel-users:user-token"
SESSION_AUDIENCE = "channel-users:session"
USER_TOKEN_SECONDS = 30 * 24 * 3600
MIN_SESSION_SECONDS = 60
MAX_SESSION_SECONDS = 30 * 24 * 3600
DEFAULT_EXPIRATION = "PT1M"  # upstream: "if expiration is null, the expiration is set to 1 minute"

# ISO-8601 durations in days, hours, minutes and seconds (years and months have no fixed length).
_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)
_UNIT_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


def duration_seconds(text: str | None) -> int:
    """Seconds of an `expiration` such as `PT1M` or `P30D`, which must lie in 1 minute..30 days.

    Raises BadRequest naming `expiration`.
    """
    match = _DURATION.fullmatch(text or DEFAULT_EXPIRATION)
    if match is None or not any(match.groups()) or (text or "").endswith("T"):
        raise BadRequest(FieldError("must be an ISO-8601 duration such as PT1M, PT12H or P30D", "expiration"))
    seconds = sum(float(value) * _UNIT_SECONDS[unit] for unit, value in match.groupdict().items() if value)
    if not MIN_SESSION_SECONDS <= seconds <= MAX_SESSION_SECONDS:
        raise BadRequest(FieldError("must be between PT1M and P30D", "expiration"))
    return int(seconds)


def new_signing_key() -> bytes:
    return secrets.token_bytes(32)


def _sign(key: bytes, audience: str, user: dict[str, Any], seconds: int) -> tuple[str, int]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "aud": audience,
        "sub": user["id"],
        "channelId": user["channelId"],
        "iat": now,
        "exp": now + seconds,
        "jti": secrets.token_hex(8),
    }
    if "memberId" in user:
        claims["memberId"] = user["memberId"]
    return jwt.encode(claims, key, algorithm="HS256"), (now + seconds) * 1000


def user_token(key: bytes, user: dict[str, Any]) -> dict[str, Any]:
    """Upstream's `open.EntityTokenView`: `{"token", "disableAt"}`, valid for 30 days."""
    token, expires_at = _sign(key, USER_TOKEN_AUDIENCE, user, USER_TOKEN_SECONDS)
    return {"token": token, "disableAt": expires_at}


def session_jwt(key: bytes, member: dict[str, Any], seconds: int) -> dict[str, Any]:
    """Upstream's `open.UserTokenView`: `{"sessionJWT", "expiresAt"}`."""
    token, expires_at = _sign(key, SESSION_AUDIENCE, member, seconds)
    return {"sessionJWT": token, "expiresAt": expires_at}
