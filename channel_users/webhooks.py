"""Webhook rules (SPEC section 6) as pure functions: which scopes a user change fires, the registry's
request bodies, and the signed delivery body. No I/O; the outbox is `store/`, sending is `delivery.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any, Final
from urllib.parse import urlsplit

from .errors import BadRequest, FieldError
from .ids import new_id
from .users import User

# The user scopes of upstream's `webhook.Webhook.scopes` enum; the chat scopes are accepted (they are
# valid upstream) but never fire here, since chats are out of scope.
USER_SCOPES: Final = (
    "lead.upserted.contact",
    "lead.upserted.subscription",
    "lead.deleted",
    "member.upserted.contact",
    "member.upserted.subscription",
    "member.deleted",
)
CHAT_SCOPES: Final = ("userChat.opened", "message.created.userChat", "message.created.teamChat")
SCOPES: Final = frozenset(USER_SCOPES + CHAT_SCOPES)
CONTACT_FIELDS: Final = ("email", "mobileNumber")
SUBSCRIPTION_FIELDS: Final = ("unsubscribeEmail", "unsubscribeTexting")
MAX_NAME = 100
MAX_URL = 2048
MAX_API_VERSION = 20
WRITABLE: Final = frozenset({"name", "url", "scopes", "apiVersion"})
# Read-only fields of upstream's `webhook.Webhook` (and the deprecated `keywords`): accepted and
# ignored, so that a client may send back a webhook it read.
READ_ONLY: Final = frozenset(
    {"id", "channelId", "token", "createdAt", "lastBlockedAt", "blocked", "keywords"}
)


def fired_scopes(before: User | None, after: User | None) -> list[str]:
    """The scopes a committed change fires, in delivery order.

    `before` None is a creation (contact), `after` None a deletion; otherwise "contact" fires when
    email or mobileNumber changed and "subscription" when unsubscribeEmail or unsubscribeTexting did.
    """
    if after is None:
        return [] if before is None else [f"{before['type']}.deleted"]
    kind = after["type"]
    if before is None:
        return [f"{kind}.upserted.contact"]
    scopes = []
    if any(before.get(key) != after.get(key) for key in CONTACT_FIELDS):
        scopes.append(f"{kind}.upserted.contact")
    if any(before.get(key) != after.get(key) for key in SUBSCRIPTION_FIELDS):
        scopes.append(f"{kind}.upserted.subscription")
    return scopes


def _string(body: dict[str, Any], key: str, limit: int, errors: list[FieldError]) -> str | None:
    value = body[key]
    if not isinstance(value, str) or not value.strip():
        errors.append(FieldError("must be a non-empty string", key))
        return None
    if len(value) > limit:
        errors.append(FieldError(f"must be at most {limit} characters", key))
        return None
    return value


def _url(body: dict[str, Any], errors: list[FieldError]) -> str | None:
    url = _string(body, "url", MAX_URL, errors)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        errors.append(FieldError("must be an absolute http or https URL without a fragment", "url"))
        return None
    return url


def _scopes(body: dict[str, Any], errors: list[FieldError]) -> list[str] | None:
    value = body["scopes"]
    if not isinstance(value, list) or not value:
        errors.append(FieldError("must be a non-empty array of scopes", "scopes"))
        return None
    scopes: list[str] = []
    for index, scope in enumerate(value):
        if scope not in SCOPES:
            errors.append(FieldError("unknown scope", f"scopes[{index}]"))
        elif scope in scopes:  # upstream's schema: uniqueItems
            errors.append(FieldError("duplicate scope", f"scopes[{index}]"))
        else:
            scopes.append(scope)
    return scopes


def webhook_fields(body: Any, *, partial: bool) -> dict[str, Any]:
    """Validates a create (every writable field required) or PATCH (`partial`) body into the wire
    fields it sets. Raises BadRequest with every violation at once."""
    if not isinstance(body, dict):
        raise BadRequest(FieldError("request body must be a JSON object", "body"))
    errors = [
        FieldError("unknown field", key) for key in body if key not in WRITABLE and key not in READ_ONLY
    ]
    fields: dict[str, Any] = {}
    checks = (
        ("name", lambda: _string(body, "name", MAX_NAME, errors)),
        ("url", lambda: _url(body, errors)),
        ("scopes", lambda: _scopes(body, errors)),
        ("apiVersion", lambda: _string(body, "apiVersion", MAX_API_VERSION, errors)),
    )
    for key, check in checks:
        if key in body:
            fields[key] = check()
        elif not partial:
            errors.append(FieldError("is required", key))
    if errors:
        raise BadRequest(*errors)
    return fields


def new_webhook(channel_id: str, fields: dict[str, Any], now: int) -> dict[str, Any]:
    """A webhook as answered (upstream's `webhook.Webhook`), with a fresh id and token."""
    return {
        "id": new_id(),
        "channelId": channel_id,
        "name": fields["name"],
        "url": fields["url"],
        "token": secrets.token_hex(16),
        "createdAt": now,
        "scopes": fields["scopes"],
        "apiVersion": fields["apiVersion"],
        "blocked": False,
    }


def patched_webhook(webhook: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any] | None:
    """The webhook with a PATCH applied, or None when nothing changes. A new `url` unblocks a
    blocked webhook (our decision: `blocked` is read-only, and a new receiver deserves a try)."""
    after = {**webhook, **fields}
    if after == webhook:
        return None
    if after["url"] != webhook["url"]:
        after["blocked"] = False
    return after


def delivery_body(scope: str, entity: bytes) -> bytes:
    """`{"event": <scope>, "type": "user", "entity": <User>}`, with the stored user bytes inlined."""
    return b'{"event":"' + scope.encode() + b'","type":"user","entity":' + entity + b"}"


def signature(token: str, body: bytes) -> str:
    """`X-Signature` (our addition): hex HMAC-SHA256 of the exact body bytes, keyed by the token."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
