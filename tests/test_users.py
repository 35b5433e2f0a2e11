"""The PATCH / PUT rules of SPEC section 3, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channel_users import users
from channel_users.errors import BadRequest
from channel_users.validation import user_changes

T0, T1 = 1_700_000_000_000, 1_700_000_001_000


def patched(user: users.User, body: dict[str, Any], now: int = T1) -> users.User | None:
    return users.apply_changes(user, user_changes(body), now)


@pytest.fixture
def lead() -> users.User:
    return users.created_user("7", None, user_changes({"profile": {"name": "Kim", "plan": "free"}}), T0)


def test_new_user_shape() -> None:
    user = users.new_user("7", T0)
    assert user == {
        "id": user["id"], "channelId": "7", "type": "lead", "named": False, "member": False,
        "emailQualified": False, "mobileNumberQualified": False, "blocked": False,
        "unsubscribeEmail": False, "unsubscribeTexting": False, "language": "en",
        "sessionsCount": 0, "createdAt": T0, "updatedAt": T0, "version": 1,
    }  # fmt: skip
    assert len(user["id"]) == 20 and int(user["id"], 16) >= 0


def test_profile_merges_sets_and_removes(lead: users.User) -> None:
    after = patched(lead, {"profile": {"plan": "pro", "name": None, "age": 3}})
    assert after is not None
    assert after["profile"] == {"plan": "pro", "age": 3}
    assert "name" not in after and after["named"] is False


def test_profile_null_removes_every_key(lead: users.User) -> None:
    after = patched(lead, {"profile": None})
    assert after is not None and "profile" not in after


def test_empty_profile_changes_nothing(lead: users.User) -> None:
    assert patched(lead, {"profile": {}}) is None


def test_profile_once_sets_only_absent_keys(lead: users.User) -> None:
    after = patched(lead, {"profileOnce": {"name": "Lee", "city": "Seoul"}})
    assert after is not None
    assert after["profile"] == {"name": "Kim", "plan": "free", "city": "Seoul"}


def test_profile_wins_over_profile_once_in_one_request(lead: users.User) -> None:
    after = patched(lead, {"profile": {"city": "Busan"}, "profileOnce": {"city": "Seoul"}})
    assert after is not None and after["profile"]["city"] == "Busan"


def test_profile_once_sees_keys_removed_in_the_same_request(lead: users.User) -> None:
    after = patched(lead, {"profile": {"name": None}, "profileOnce": {"name": "Lee"}})
    assert after is not None and after["profile"]["name"] == "Lee"


def test_tags_replace_and_clear(lead: users.User) -> None:
    tagged = patched(lead, {"tags": ["A", "b"]})
    assert tagged is not None and tagged["tags"] == ["a", "b"]
    replaced = patched(tagged, {"tags": ["c"]})
    assert replaced is not None and replaced["tags"] == ["c"]
    cleared = patched(replaced, {"tags": None})
    assert cleared is not None and "tags" not in cleared


def test_unsubscribe_updated_at_only_on_actual_change(lead: users.User) -> None:
    assert patched(lead, {"unsubscribeEmail": False}) is None
    after = patched(lead, {"unsubscribeEmail": True, "unsubscribeTexting": False})
    assert after is not None
    assert after["unsubscribeEmail"] is True and after["unsubscribeEmailUpdatedAt"] == T1
    assert "unsubscribeTextingUpdatedAt" not in after
    assert patched(after, {"unsubscribeEmail": True}, T1 + 5) is None


def test_version_and_updated_at_only_on_change(lead: users.User) -> None:
    assert patched(lead, {"profile": {"name": "Kim"}}) is None
    after = patched(lead, {"profile": {"name": "Lee"}})
    assert after is not None
    assert (after["version"], after["updatedAt"], after["createdAt"]) == (2, T1, T0)


def test_a_value_of_another_type_is_a_change(lead: users.User) -> None:
    one = patched(lead, {"profile": {"n": 1}})
    assert one is not None
    assert patched(one, {"profile": {"n": True}}) is not None
    assert patched(one, {"profile": {"n": 1.0}}) is not None
    assert patched(one, {"profile": {"n": 1}}) is None


def test_derived_fields_mirror_profile(lead: users.User) -> None:
    after = patched(lead, {"profile": {
        "email": "kim@example.com", "mobileNumber": "+8201012345678",
        "landlineNumber": "+18004424000", "avatarUrl": "https://example.com/a.png",
    }})  # fmt: skip
    assert after is not None
    assert after["email"] == "kim@example.com" and after["emailQualified"] is True
    assert after["mobileNumber"] == "+821012345678" and after["mobileNumberQualified"] is True
    assert after["landlineNumber"] == "+18004424000"
    assert after["avatarUrl"] == "https://example.com/a.png"
    assert after["name"] == "Kim" and after["named"] is True


def test_unqualified_email_and_number_are_stored_not_refused(lead: users.User) -> None:
    after = patched(lead, {"profile": {"email": "not-an-email", "mobileNumber": "+18004424000"}})
    assert after is not None
    assert after["email"] == "not-an-email" and after["emailQualified"] is False
    # A valid US toll-free number is not a mobile number.
    assert after["mobileNumber"] == "+18004424000" and after["mobileNumberQualified"] is False


def test_profile_key_limit_counts_the_merged_profile(lead: users.User) -> None:
    full = patched(lead, {"profile": {f"k{i}": i for i in range(498)}})
    assert full is not None and len(full["profile"]) == 500
    with pytest.raises(BadRequest) as caught:
        patched(full, {"profile": {"one_more": 1}})
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("profile", "a profile holds at most 500 keys")
    ]
    swapped = patched(full, {"profile": {"k0": None, "one_more": 1}})
    assert swapped is not None and len(swapped["profile"]) == 500


def test_created_member_is_version_one_with_body_applied() -> None:
    user = users.created_user(
        "7", "m-1", user_changes({"profile": {"name": "A"}, "unsubscribeTexting": True}), T0
    )
    assert user["type"] == "member" and user["member"] is True and user["memberId"] == "m-1"
    assert user["version"] == 1 and user["updatedAt"] == T0
    assert user["unsubscribeTextingUpdatedAt"] == T0


def test_block_and_touch(lead: users.User) -> None:
    blocked = users.set_blocked(lead, True, T1)
    assert blocked is not None and blocked["blocked"] is True and blocked["version"] == 2
    assert users.set_blocked(blocked, True, T1) is None
    touched = users.touch(blocked, T1 + 1)
    assert touched["sessionsCount"] == 1 and touched["lastSeenAt"] == T1 + 1
    assert touched["version"] == 3


def test_fields_come_out_in_a_fixed_order_without_nulls(lead: users.User) -> None:
    after = patched(lead, {"profile": {"email": "a@b.co"}, "tags": ["x"]})
    assert after is not None
    assert list(after) == [k for k in users.FIELD_ORDER if k in after]
    assert None not in after.values()


profile_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)  # fmt: skip
profile_keys = st.from_regex(r"[a-z][a-z0-9_]{0,5}", fullmatch=True).filter(
    lambda k: k not in {"name", "email", "avatarUrl", "firstName", "lastName"}
)
profiles = st.dictionaries(profile_keys, profile_values, max_size=8)


@given(start=profiles, change=profiles, once=profiles)
def test_property_profile_merge_then_once(
    start: dict[str, Any], change: dict[str, Any], once: dict[str, Any]
) -> None:
    user = users.created_user("1", None, user_changes({"profile": start}), T0)
    after = patched(user, {"profile": change, "profileOnce": once}) or user
    profile = after.get("profile", {})
    for key, value in change.items():
        if value is None:
            assert key not in profile or (once.get(key) is not None and profile[key] == once[key])
        else:
            assert profile[key] == value
    for key, value in once.items():
        if value is not None and key not in change and key not in start:
            assert profile[key] == value
    for key, value in start.items():
        if value is not None and key not in change:
            assert profile[key] == value


@given(start=profiles, change=profiles)
def test_property_applying_twice_changes_nothing_more(start: dict[str, Any], change: dict[str, Any]) -> None:
    user = users.created_user("1", None, user_changes({"profile": start}), T0)
    once = patched(user, {"profile": change}) or user
    assert patched(once, {"profile": change}, T1 + 1) is None
    assert once["version"] in (1, 2)
