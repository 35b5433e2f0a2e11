"""Seeding large populations through the project's own store layer (no HTTP).

For 1,000,000 users the HTTP API seeds at a few thousand users a second (each PUT is its own
request); this goes through the same rules (`validation.user_changes`, `users.created_user`) and the
store's `insert_user`, many at once, so the stored rows are exactly what PUT would have written.

    python bench/seed_store.py DATABASE_URL CHANNEL_ID N IDS_OUT
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channel_users import users, validation  # noqa: E402
from channel_users.ids import now_ms  # noqa: E402
from channel_users.store import open_store  # noqa: E402

CHUNK = 2_000


async def seed(url: str, channel_id: str, n: int, ids_out: str) -> None:
    store = open_store(url)
    await store.migrate()
    await store.open()
    start = time.monotonic()
    try:
        with open(ids_out, "w") as out:
            for lo in range(0, n, CHUNK):
                now = now_ms()
                made = [
                    users.created_user(
                        channel_id,
                        f"bench-{i}",
                        validation.user_changes(
                            {"profile": {"name": f"User {i}", "email": f"user{i}@example.com"},
                             "tags": ["seed"]}
                        ),
                        now,
                    )
                    for i in range(lo, min(n, lo + CHUNK))
                ]
                await asyncio.gather(*(store.insert_user(channel_id, u) for u in made))
                out.write("".join(u["id"] + "\n" for u in made))
                if (lo // CHUNK) % 50 == 49:
                    rate = (lo + CHUNK) / (time.monotonic() - start)
                    print(f"    seeded {lo + CHUNK:,}/{n:,} ({rate:,.0f}/s)", flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    url, channel_id, n, ids_out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    asyncio.run(seed(url, channel_id, n, ids_out))
