"""The ceiling: a plain ASGI app that answers every request with the same 1.5 KB JSON body.

Served by the same server software as channel-users (uvicorn, uvloop, httptools), it measures what the
HTTP stack alone reaches on this machine, so every other figure is printed as a ratio to it.
"""

from __future__ import annotations

import json
from typing import Any

# A user-shaped document padded to 1,536 bytes (the size of a rich user answer).
_DOC: dict[str, Any] = {
    "user": {
        "id": "5f0c1435e68c92da02fd",
        "channelId": "1",
        "memberId": "bench-1",
        "type": "member",
        "name": "User 1",
        "profile": {"name": "User 1", "email": "user1@example.com", "mobileNumber": "+821012345678"},
        "tags": ["vip", "newsletter"],
        "version": 7,
        "createdAt": 1700000000000,
        "updatedAt": 1700000000000,
        "padding": "",
    }
}
_DOC["user"]["padding"] = "x" * (1536 - len(json.dumps(_DOC, separators=(",", ":"))))
BODY = json.dumps(_DOC, separators=(",", ":")).encode()
assert len(BODY) == 1536

_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while True:  # drain the request body, as a real handler would
        message = await receive()
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": BODY})
