"""The user operations, as `client.users` of Client (Users) and AsyncClient (AsyncUsers).

Keyword arguments of `patch` and `upsert` are sent only when given:
- `profile`, `profile_once`, `tags` default to UNSET (left out). None sends null: `profile=None`
  removes every profile key, `tags=None` clears the tags. A profile value of None removes that
  key.
- `unsubscribe_email`, `unsubscribe_texting`, `blocked`, `language` default to None (left out).
- `if_match=N` sends `If-Match: "N"`: the server answers 412 unless the user is at version N.

Every method answers the user as it is after the operation (`delete*` answer None) and raises a
ClientError subclass on failure: NotFoundError for an unknown id, BadRequestError for invalid
input, ...
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from channel_users.client_calls import (
    USERS,
    Call,
    Profile,
    member_path,
    update_body,
    user_of,
    user_path,
)
from channel_users.client_models import UNSET, Unset, User

if TYPE_CHECKING:
    from channel_users.client import AsyncClient, Client


def _update(
    method: str,
    path: str,
    *,
    profile: Profile | Unset | None,
    profile_once: Profile | Unset | None,
    tags: Sequence[str] | Unset | None,
    unsubscribe_email: bool | None,
    unsubscribe_texting: bool | None,
    blocked: bool | None,
    language: str | None,
    if_match: int | None,
) -> Call:
    body = update_body(
        profile=profile,
        profile_once=profile_once,
        tags=tags,
        unsubscribe_email=unsubscribe_email,
        unsubscribe_texting=unsubscribe_texting,
        blocked=blocked,
        language=language,
    )
    return Call(method, path, body, if_match)


class Users:
    """`client.users` of a Client."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def _user(self, call: Call) -> User:
        data, response = self._client._send(call)
        return user_of(data, response)

    def get(self, user_id: str) -> User:
        """The user with this id (`GET /open/v5/users/{userId}`)."""
        return self._user(Call("GET", user_path(user_id)))

    def get_by_member_id(self, member_id: str) -> User:
        """The user with this memberId (`GET /open/v5/users/@{memberId}`)."""
        return self._user(Call("GET", member_path(member_id)))

    def patch(
        self,
        user_id: str,
        *,
        profile: Profile | Unset | None = UNSET,
        profile_once: Profile | Unset | None = UNSET,
        tags: Sequence[str] | Unset | None = UNSET,
        unsubscribe_email: bool | None = None,
        unsubscribe_texting: bool | None = None,
        blocked: bool | None = None,
        language: str | None = None,
        if_match: int | None = None,
    ) -> User:
        """Update the user (`PATCH /open/v5/users/{userId}`): profile merged, profileOnce set where
        absent, tags replaced."""
        return self._user(
            _update(
                "PATCH",
                user_path(user_id),
                profile=profile,
                profile_once=profile_once,
                tags=tags,
                unsubscribe_email=unsubscribe_email,
                unsubscribe_texting=unsubscribe_texting,
                blocked=blocked,
                language=language,
                if_match=if_match,
            )
        )

    def upsert(
        self,
        member_id: str,
        *,
        profile: Profile | Unset | None = UNSET,
        profile_once: Profile | Unset | None = UNSET,
        tags: Sequence[str] | Unset | None = UNSET,
        unsubscribe_email: bool | None = None,
        unsubscribe_texting: bool | None = None,
        blocked: bool | None = None,
        language: str | None = None,
        if_match: int | None = None,
    ) -> User:
        """Create a member with this memberId, or update it as `patch` does
        (`PUT /open/v5/users/@{memberId}`)."""
        return self._user(
            _update(
                "PUT",
                member_path(member_id),
                profile=profile,
                profile_once=profile_once,
                tags=tags,
                unsubscribe_email=unsubscribe_email,
                unsubscribe_texting=unsubscribe_texting,
                blocked=blocked,
                language=language,
                if_match=if_match,
            )
        )

    def create_lead(self, profile: Profile) -> User:
        """Create a lead (a user without memberId) with this profile (`POST /open/v5/users`)."""
        return self._user(Call("POST", USERS, {"profile": dict(profile)}))

    def delete(self, user_id: str, *, if_match: int | None = None) -> None:
        """Delete the user and its events for good (`DELETE /open/v5/users/{userId}`)."""
        self._client._send(Call("DELETE", user_path(user_id), None, if_match))

    def delete_by_member_id(self, member_id: str, *, if_match: int | None = None) -> None:
        """Delete the user with this memberId (`DELETE /open/v5/users/@{memberId}`)."""
        self._client._send(Call("DELETE", member_path(member_id), None, if_match))

    def block(self, user_id: str) -> User:
        """Block the user (`POST /open/v5/users/{userId}/block`)."""
        return self._user(Call("POST", f"{user_path(user_id)}/block"))

    def unblock(self, user_id: str) -> User:
        """Unblock the user (`DELETE /open/v5/users/{userId}/block`)."""
        return self._user(Call("DELETE", f"{user_path(user_id)}/block"))

    def touch(self, user_id: str) -> User:
        """Count a session: sessionsCount + 1, lastSeenAt now (`POST
        /open/v5/users/{userId}/touch`)."""
        return self._user(Call("POST", f"{user_path(user_id)}/touch"))


class AsyncUsers:
    """`client.users` of an AsyncClient: the methods of Users, awaited."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    async def _user(self, call: Call) -> User:
        data, response = await self._client._send(call)
        return user_of(data, response)

    async def get(self, user_id: str) -> User:
        """As `Users.get`."""
        return await self._user(Call("GET", user_path(user_id)))

    async def get_by_member_id(self, member_id: str) -> User:
        """As `Users.get_by_member_id`."""
        return await self._user(Call("GET", member_path(member_id)))

    async def patch(
        self,
        user_id: str,
        *,
        profile: Profile | Unset | None = UNSET,
        profile_once: Profile | Unset | None = UNSET,
        tags: Sequence[str] | Unset | None = UNSET,
        unsubscribe_email: bool | None = None,
        unsubscribe_texting: bool | None = None,
        blocked: bool | None = None,
        language: str | None = None,
        if_match: int | None = None,
    ) -> User:
        """As `Users.patch`."""
        return await self._user(
            _update(
                "PATCH",
                user_path(user_id),
                profile=profile,
                profile_once=profile_once,
                tags=tags,
                unsubscribe_email=unsubscribe_email,
                unsubscribe_texting=unsubscribe_texting,
                blocked=blocked,
                language=language,
                if_match=if_match,
            )
        )

    async def upsert(
        self,
        member_id: str,
        *,
        profile: Profile | Unset | None = UNSET,
        profile_once: Profile | Unset | None = UNSET,
        tags: Sequence[str] | Unset | None = UNSET,
        unsubscribe_email: bool | None = None,
        unsubscribe_texting: bool | None = None,
        blocked: bool | None = None,
        language: str | None = None,
        if_match: int | None = None,
    ) -> User:
        """As `Users.upsert`."""
        return await self._user(
            _update(
                "PUT",
                member_path(member_id),
                profile=profile,
                profile_once=profile_once,
                tags=tags,
                unsubscribe_email=unsubscribe_email,
                unsubscribe_texting=unsubscribe_texting,
                blocked=blocked,
                language=language,
                if_match=if_match,
            )
        )

    async def create_lead(self, profile: Profile) -> User:
        """As `Users.create_lead`."""
        return await self._user(Call("POST", USERS, {"profile": dict(profile)}))

    async def delete(self, user_id: str, *, if_match: int | None = None) -> None:
        """As `Users.delete`."""
        await self._client._send(Call("DELETE", user_path(user_id), None, if_match))

    async def delete_by_member_id(self, member_id: str, *, if_match: int | None = None) -> None:
        """As `Users.delete_by_member_id`."""
        await self._client._send(Call("DELETE", member_path(member_id), None, if_match))

    async def block(self, user_id: str) -> User:
        """As `Users.block`."""
        return await self._user(Call("POST", f"{user_path(user_id)}/block"))

    async def unblock(self, user_id: str) -> User:
        """As `Users.unblock`."""
        return await self._user(Call("DELETE", f"{user_path(user_id)}/block"))

    async def touch(self, user_id: str) -> User:
        """As `Users.touch`."""
        return await self._user(Call("POST", f"{user_path(user_id)}/touch"))
