"""ETag and If-Match on PATCH, PUT and DELETE (SPEC section 7), on both backends."""

from __future__ import annotations

import asyncio

import httpx
import pytest

USER = "/open/v5/users/"


async def _lead(api: httpx.AsyncClient) -> dict[str, object]:
    r = await api.post(USER.rstrip("/"), json={"profile": {"name": "Kim"}})
    assert r.status_code == 200, r.text
    user: dict[str, object] = r.json()["user"]
    return user


def _precondition_failed(r: httpx.Response, current: int) -> None:
    assert r.status_code == 412, r.text
    assert r.json() == {
        "type": "precondition_failed",
        "status": 412,
        "errors": [
            {"message": f"If-Match does not match the current version {current}", "field": "If-Match"}
        ],
    }
    assert r.headers["etag"] == f'"{current}"'


async def test_etag_is_the_quoted_version_on_every_user_answer(api: httpx.AsyncClient) -> None:
    user = await _lead(api)
    r = await api.get(f"{USER}{user['id']}")
    assert r.headers["etag"] == '"1"'
    r = await api.patch(f"{USER}{user['id']}", json={"profile": {"a": 1}})
    assert r.headers["etag"] == '"2"' and r.json()["user"]["version"] == 2


async def test_if_match_current_version_applies(api: httpx.AsyncClient) -> None:
    user = await _lead(api)
    r = await api.patch(f"{USER}{user['id']}", json={"profile": {"a": 1}}, headers={"if-match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["profile"] == {"name": "Kim", "a": 1}


async def test_if_match_stale_version_is_412_with_current_and_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    user = await _lead(api)
    await api.patch(f"{USER}{user['id']}", json={"profile": {"a": 1}})
    before = (await api.get(f"{USER}{user['id']}")).content
    r = await api.patch(f"{USER}{user['id']}", json={"profile": {"a": 2}}, headers={"if-match": '"1"'})
    _precondition_failed(r, 2)
    assert (await api.get(f"{USER}{user['id']}")).content == before


@pytest.mark.parametrize(
    ("header", "status"),
    [("*", 200), ('W/"1"', 200), ('"5", "1"', 200), ('"5", W/"6"', 412), ('"2"', 412)],
)
async def test_if_match_forms(api: httpx.AsyncClient, header: str, status: int) -> None:
    user = await _lead(api)
    r = await api.patch(f"{USER}{user['id']}", json={"tags": ["x"]}, headers={"if-match": header})
    assert r.status_code == status, r.text


@pytest.mark.parametrize("header", ["1", '"abc"', '"1', "", '"-1"', '"99999999999999999999"', "W/1"])
async def test_if_match_malformed_is_400_naming_it(api: httpx.AsyncClient, header: str) -> None:
    user = await _lead(api)
    r = await api.patch(f"{USER}{user['id']}", json={"tags": ["x"]}, headers={"if-match": header})
    assert r.status_code == 400, r.text
    assert r.json()["errors"] == [
        {"message": 'must be a list of entity tags such as "7"', "field": "If-Match"}
    ]


async def test_if_match_on_put_of_absent_member_is_412_and_creates_nothing(
    api: httpx.AsyncClient,
) -> None:
    r = await api.put(f"{USER}@ghost", json={"profile": {"name": "G"}}, headers={"if-match": '"1"'})
    assert r.status_code == 412, r.text
    assert r.json()["errors"] == [{"message": "the user does not exist", "field": "If-Match"}]
    assert (await api.get(f"{USER}@ghost")).status_code == 404
    r = await api.put(f"{USER}@ghost", json={"profile": {"name": "G"}}, headers={"if-match": "*"})
    assert r.status_code == 412


async def test_if_match_on_put_of_existing_member(api: httpx.AsyncClient) -> None:
    assert (await api.put(f"{USER}@m", json={"profile": {"name": "A"}})).status_code == 200
    r = await api.put(f"{USER}@m", json={"profile": {"name": "B"}}, headers={"if-match": '"7"'})
    _precondition_failed(r, 1)
    r = await api.put(f"{USER}@m", json={"profile": {"name": "B"}}, headers={"if-match": '"1"'})
    assert r.status_code == 200 and r.json()["user"]["name"] == "B"


async def test_if_match_on_delete(api: httpx.AsyncClient) -> None:
    user = await _lead(api)
    r = await api.delete(f"{USER}{user['id']}", headers={"if-match": '"9"'})
    _precondition_failed(r, 1)
    assert (await api.get(f"{USER}{user['id']}")).status_code == 200
    r = await api.delete(f"{USER}{user['id']}", headers={"if-match": '"1"'})
    assert r.status_code == 200 and r.content == b"{}"
    r = await api.delete(f"{USER}{user['id']}", headers={"if-match": '"1"'})
    assert r.status_code == 404


async def test_if_match_on_delete_of_member(api: httpx.AsyncClient) -> None:
    assert (await api.put(f"{USER}@d", json={"tags": ["t"]})).status_code == 200
    _precondition_failed(await api.delete(f"{USER}@d", headers={"if-match": '"2"'}), 1)
    assert (await api.delete(f"{USER}@d", headers={"if-match": '"1"'})).status_code == 200
    assert (await api.get(f"{USER}@d")).status_code == 404


async def test_if_match_races_have_exactly_one_winner(api: httpx.AsyncClient) -> None:
    """Eight writers all read version 1 and PATCH with If-Match "1": one wins, seven get 412."""
    user = await _lead(api)
    answers = await asyncio.gather(
        *(
            api.patch(f"{USER}{user['id']}", json={"profile": {"w": i}}, headers={"if-match": '"1"'})
            for i in range(8)
        )
    )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] + [412] * 7
    winner = next(r for r in answers if r.status_code == 200).json()["user"]
    final = (await api.get(f"{USER}{user['id']}")).json()["user"]
    assert final == winner and final["version"] == 2
