"""Micro-benchmark of the pure PATCH rules (no HTTP, no database), for profiles of 10 and 500 keys.

    bench/.venv/bin/python -m pytest -c bench/pytest.ini bench/micro_rules.py

Each case validates the benchmark's PATCH body (`validation.user_changes`) and applies it to a stored
user (`users.apply_changes`), as one PATCH request does between reading and writing the row.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channel_users import users, validation  # noqa: E402

NOW = 1_800_000_000_000
BODY: dict[str, Any] = {
    "profile": {"name": "User 7", "email": "user7@example.com", "mobileNumber": "+821012345678",
                "plan": "gold-2"},
    "profileOnce": {"firstSeenCampaign": "spring-sale"},
    "tags": ["vip", "newsletter"],
    "unsubscribeEmail": True,
}


def fresh_body(n: int) -> dict[str, Any]:
    """The benchmark's body with a new number and address each time, as under load (so the
    contacts caches miss, as they do for random users)."""
    return {**BODY, "profile": {**BODY["profile"], "mobileNumber": f"+8210{n % 10**8:08d}",
                                "email": f"user{n}@example.com"}}


def stored_user(keys: int) -> users.User:
    """A stored user whose profile has `keys` keys once the benchmark body has added its three."""
    keys -= 3
    profile: dict[str, Any] = {"name": "User 7", "email": "user7@example.com"}
    profile |= {f"custom{i}": (f"value {i}" if i % 2 else i) for i in range(keys - len(profile))}
    changes = validation.user_changes({"profile": profile, "tags": ["seed"]})
    return users.created_user("1", "bench-7", changes, NOW - 1000)


@pytest.mark.parametrize("keys", [10, 500])
def test_patch_rules(benchmark: Any, keys: int) -> None:
    user = stored_user(keys)

    counter = itertools.count(10**7)

    def patch() -> users.User | None:
        return users.apply_changes(user, validation.user_changes(fresh_body(next(counter))), NOW)

    after = benchmark(patch)
    assert after is not None and after["version"] == user["version"] + 1
    assert len(after["profile"]) == keys


@pytest.mark.parametrize("keys", [10, 500])
def test_validate_body_of_n_keys(benchmark: Any, keys: int) -> None:
    body = {"profile": {f"key{i}": f"value {i}" for i in range(keys)}}
    changes = benchmark(validation.user_changes, body)
    assert len(changes.profile) == keys


def test_contacts_only(benchmark: Any) -> None:
    """The derived fields alone, uncached (phone parsing and e-mail checks), for comparison."""
    from channel_users import contacts

    counter = itertools.count(10**7)

    def derive() -> tuple[bool, bool]:
        n = next(counter)
        number = contacts.normalize_phone.__wrapped__(f"+8210{n:08d}")
        return (contacts.is_mobile_number.__wrapped__(number),
                contacts.is_qualified_email.__wrapped__(f"user{n}@example.com"))

    assert benchmark(derive) == (True, True)
