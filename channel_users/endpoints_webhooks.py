"""The webhook registry (SPEC section 6): upstream's `/open/v5/webhooks` operations."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from . import webhooks
from .bodies import read_json
from .endpoints import EMPTY_OBJECT, JSON, Call
from .errors import BadRequest, FieldError, NotFound
from .ids import is_id, now_ms
from .routing import Router

DEFAULT_LIMIT = 25
MAX_LIMIT = 500


def _query_int(call: Call, name: str, low: int, high: int) -> int | None:
    text = call.request.query_params.get(name)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BadRequest(FieldError(f"must be an integer from {low} to {high}", name))
    return value


async def list_webhooks(call: Call) -> dict[str, Any]:
    """Upstream's `WebhooksView`: newest first; `since` is the createdAt to start from (inclusive),
    and `next` the createdAt of the first webhook of the next page."""
    limit = _query_int(call, "limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    since = _query_int(call, "since", 0, 2**63 - 1)
    rows = await call.store.list_webhooks(call.channel_id, since, limit + 1)
    view: dict[str, Any] = {"webhooks": rows[:limit]}
    if len(rows) > limit:
        view["next"] = rows[limit]["createdAt"]
    return view


async def create_webhook(call: Call) -> dict[str, Any]:
    fields = webhooks.webhook_fields(await read_json(call.request), partial=False)
    webhook = webhooks.new_webhook(call.channel_id, fields, now_ms())
    return {"webhook": await call.store.insert_webhook(call.channel_id, webhook)}


def _webhook_id(webhook_id: str) -> str:
    if not is_id(webhook_id):
        raise NotFound("webhook not found")
    return webhook_id


async def get_webhook(call: Call, id: str) -> dict[str, Any]:
    webhook = await call.store.get_webhook(call.channel_id, _webhook_id(id))
    if webhook is None:
        raise NotFound("webhook not found")
    return {"webhook": webhook}


async def patch_webhook(call: Call, id: str) -> dict[str, Any]:
    webhook_id = _webhook_id(id)
    fields = webhooks.webhook_fields(await read_json(call.request), partial=True)
    webhook = await call.store.update_webhook(
        call.channel_id, webhook_id, lambda current: webhooks.patched_webhook(current, fields)
    )
    if webhook is None:
        raise NotFound("webhook not found")
    return {"webhook": webhook}


async def delete_webhook(call: Call, id: str) -> Response:
    if not await call.store.delete_webhook(call.channel_id, _webhook_id(id)):
        raise NotFound("webhook not found")
    return Response(EMPTY_OBJECT, media_type=JSON)


def add_webhook_routes(router: Router) -> None:
    router.add("webhooks", GET=list_webhooks, POST=create_webhook)
    router.add("webhooks/{id}", GET=get_webhook, PATCH=patch_webhook, DELETE=delete_webhook)
