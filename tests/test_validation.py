"""Body validation: every violation reported at once, with its field path and exact message."""

from __future__ import annotations

from typing import Any

import pytest

from channel_users import validation
from channel_users.errors import BadRequest
from channel_users.validation import MISSING, UserChanges, user_changes


def errors_of(body: Any) -> list[tuple[str | None, str]]:
    with pytest.raises(BadRequest) as caught:
        user_changes(body)
    return [(e.field, e.message) for e in caught.value.errors]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([], [("body", "request body must be a JSON object")]),
        ("x", [("body", "request body must be a JSON object")]),
        ({"nope": 1}, [("nope", "unknown field")]),
        ({"profile": []}, [("profile", "must be an object")]),
        ({"profile": {"1a": 1}}, [("profile.1a", "key must match ^[A-Za-z][A-Za-z0-9_]{0,63}$")]),
        (
            {"profile": {"a" * 65: 1}},
            [(f"profile.{'a' * 65}", "key must match ^[A-Za-z][A-Za-z0-9_]{0,63}$")],
        ),
        ({"profile": {"k": {"x": 1}}}, [("profile.k", "must be a string, number, boolean or null")]),
        ({"profile": {"k": [1]}}, [("profile.k", "must be a string, number, boolean or null")]),
        ({"profile": {"k": "x" * 1025}}, [("profile.k", "must be at most 1024 characters")]),
        ({"profile": {"k": 2**63}}, [("profile.k", "must fit in a signed 64-bit integer")]),
        ({"profile": {"k": -(2**63) - 1}}, [("profile.k", "must fit in a signed 64-bit integer")]),
        ({"profile": {"k": float("inf")}}, [("profile.k", "must be a finite number")]),
        ({"profile": {"k": "\ud800"}}, [("profile.k", "must be valid Unicode (no lone surrogates)")]),
        ({"profile": {"name": 5}}, [("profile.name", "must be a string")]),
        ({"profile": {"email": True}}, [("profile.email", "must be a string")]),
        ({"profile": {"recentPurchaseCount": 1.5}}, [("profile.recentPurchaseCount", "must be an integer")]),
        ({"profile": {"recentPurchaseCount": True}}, [("profile.recentPurchaseCount", "must be an integer")]),
        (
            {"profile": {"recentPurchaseCount": 2**31}},
            [("profile.recentPurchaseCount", "must fit in a signed 32-bit integer")],
        ),
        ({"profile": {"recentPurchaseAmount": "9"}}, [("profile.recentPurchaseAmount", "must be a number")]),
        (
            {"profile": {"mobileNumber": "01012345678"}},
            [("profile.mobileNumber", "must be an international phone number starting with +")],
        ),
        (
            {"profile": {"landlineNumber": "+abc"}},
            [("profile.landlineNumber", "must be an international phone number starting with +")],
        ),
        ({"profileOnce": {"k": {}}}, [("profileOnce.k", "must be a string, number, boolean or null")]),
        ({"profileOnce": 3}, [("profileOnce", "must be an object")]),
        ({"tags": "vip"}, [("tags", "must be an array of strings or null")]),
        ({"tags": ["ok", 3]}, [("tags[1]", "must be a string")]),
        ({"tags": ["ok", "  "]}, [("tags[1]", "must not be empty")]),
        ({"tags": ["x" * 51]}, [("tags[0]", "must be at most 50 characters")]),
        ({"tags": [f"t{i}" for i in range(21)]}, [("tags", "must have at most 20 distinct tags")]),
        ({"unsubscribeEmail": "yes"}, [("unsubscribeEmail", "must be a boolean")]),
        ({"unsubscribeTexting": 1}, [("unsubscribeTexting", "must be a boolean")]),
        ({"blocked": "true"}, [("blocked", "must be a boolean")]),
        ({"language": "english!"}, [("language", "must be a language tag such as en or ko")]),
        ({"profile": {f"k{i}": i for i in range(501)}}, [("profile", "must have at most 500 keys")]),
    ],
)
def test_user_changes_rejects_with_field_path(body: Any, expected: list[tuple[str, str]]) -> None:
    assert errors_of(body) == expected


def test_user_changes_reports_every_violation_at_once() -> None:
    body = {
        "profile": {"mobileNumber": "nope", "ok": 1, "bad": []},
        "tags": ["", "fine", 7],
        "unsubscribeEmail": "x",
        "mystery": True,
    }
    assert {field for field, _ in errors_of(body)} == {
        "mystery", "profile.mobileNumber", "profile.bad", "tags[0]", "tags[2]", "unsubscribeEmail",
    }  # fmt: skip


def test_user_changes_accepts_read_only_fields_and_ignores_them() -> None:
    changes = user_changes({"id": "x", "version": 9, "createdAt": 1, "named": True, "web": {}})
    assert changes == UserChanges()


def test_user_changes_normalises_phone_numbers_to_e164() -> None:
    changes = user_changes(
        {"profile": {"mobileNumber": "+8201012345678", "landlineNumber": "+1 800 442 4000"}}
    )
    assert changes.profile == {"mobileNumber": "+821012345678", "landlineNumber": "+18004424000"}


def test_user_changes_tags_trimmed_lowercased_deduplicated_in_order() -> None:
    assert user_changes({"tags": [" VIP ", "new", "vip", "New"]}).tags == ["vip", "new"]


def test_user_changes_twenty_distinct_tags_after_collapsing_are_allowed() -> None:
    tags = [f"t{i}" for i in range(20)] + ["T0", " t1 "]
    assert user_changes({"tags": tags}).tags == [f"t{i}" for i in range(20)]


@pytest.mark.parametrize("body", [{"tags": None}, {"tags": []}])
def test_user_changes_null_or_empty_tags_clear(body: dict[str, Any]) -> None:
    assert user_changes(body).tags == []


def test_user_changes_null_flags_mean_not_given() -> None:
    changes = user_changes({"unsubscribeEmail": None, "blocked": None, "language": None})
    assert changes.unsubscribe_email is MISSING and changes.blocked is MISSING and changes.language is MISSING


def test_user_changes_profile_null_clears_and_null_values_pass() -> None:
    assert user_changes({"profile": None}).profile is None
    assert user_changes({"profile": {"a": None}}).profile == {"a": None}


def test_lead_profile_requires_non_empty_profile() -> None:
    for body in ({}, {"profile": {}}, {"profile": None}, {"profile": {"name": None}}):
        with pytest.raises(BadRequest) as caught:
            validation.lead_profile(body)
        assert [(e.field, e.message) for e in caught.value.errors] == [
            ("profile", "is required and must not be empty")
        ]


def test_lead_profile_rejects_unknown_fields() -> None:
    with pytest.raises(BadRequest) as caught:
        validation.lead_profile({"profile": {"name": "a"}, "tags": ["x"]})
    assert [(e.field, e.message) for e in caught.value.errors] == [("tags", "unknown field")]


@pytest.mark.parametrize("member_id", ["", "a/b", "..", ".", "x\n", "x" * 256, "\ud800"])
def test_member_id_rejects_unroutable_values(member_id: str) -> None:
    with pytest.raises(BadRequest) as caught:
        validation.member_id(member_id)
    assert caught.value.errors[0].field == "memberId"


@pytest.mark.parametrize("member_id", ["m1", "user@example.com", "한국", "a b", "x" * 255])
def test_member_id_accepts_ordinary_values(member_id: str) -> None:
    assert validation.member_id(member_id) == member_id
