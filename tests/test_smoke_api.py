from __future__ import annotations

import httpx


async def test_put_then_get_member(api: httpx.AsyncClient) -> None:
    r = await api.put("/open/v5/users/@m1", json={"profile": {"name": "Kim"}})
    assert r.status_code == 200, r.text
    user = r.json()["user"]
    r2 = await api.get(f"/open/v5/users/{user['id']}")
    assert r2.json() == {"user": user}
