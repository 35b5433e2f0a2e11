"""`channel-users users ...`: the user operations on the command line, through Client.

Each command prints the user as JSON on stdout (`--format table` for a readable table) and exits 0.
On failure it prints `Error: ...` on stderr and exits 1 when the API answered with an error, 2 on a
usage error, 3 when the API could not be reached, 4 when the user does not exist.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from channel_users.cli_output import render
from channel_users.cli_values import KEY_VALUE, member_ref, parse_tags
from channel_users.client import DEFAULT_BASE_URL, DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, Client
from channel_users.client_errors import ClientError, NotFoundError, TransportError
from channel_users.client_models import UNSET, User

EXIT_API_ERROR = 1
EXIT_NO_ANSWER = 3
EXIT_NOT_FOUND = 4

USER_REF = "ID|@MEMBER"
VALUE_HELP = (
    "Repeat for more keys. VALUE is read as JSON when it is a number, true, false, null "
    'or a "quoted string", and as plain text otherwise (quote it to force a string: '
    "zip='\"01234\"')."
)


@click.group()
def users() -> None:
    """Read and change users of a channel (Channel Open API v5, or a channel-users server).

    Credentials come from --access-key / --access-secret or the CHANNEL_ACCESS_KEY /
    CHANNEL_ACCESS_SECRET environment variables; --base-url (or CHANNEL_BASE_URL) points at a
    channel-users server instead of https://api.channel.io.
    """


def connection_options() -> list[click.Option]:
    """The options every subcommand takes, listed after its own in --help."""
    return [
        click.Option(
            ["--access-key"],
            envvar="CHANNEL_ACCESS_KEY",
            help="Access key [env CHANNEL_ACCESS_KEY].",
        ),
        click.Option(
            ["--access-secret"],
            envvar="CHANNEL_ACCESS_SECRET",
            help="Access secret [env CHANNEL_ACCESS_SECRET].",
        ),
        click.Option(
            ["--base-url"],
            envvar="CHANNEL_BASE_URL",
            default=DEFAULT_BASE_URL,
            show_default=True,
            help="API address; http://127.0.0.1:8080 for a local server [env CHANNEL_BASE_URL].",
        ),
        click.Option(
            ["--timeout"],
            type=float,
            default=DEFAULT_TIMEOUT,
            show_default=True,
            help="Seconds per request.",
        ),
        click.Option(
            ["--max-retries"],
            type=click.IntRange(min=0),
            default=DEFAULT_MAX_RETRIES,
            show_default=True,
            help="Retries after a 429, a 5xx or a connection error.",
        ),
        click.Option(
            ["--format", "output_format"],
            type=click.Choice(["json", "table"]),
            default="json",
            show_default=True,
            help="Output: the user as JSON, or a readable table.",
        ),
    ]


def user_command(name: str) -> Callable[[Callable[..., User | None]], click.Command]:
    """A `users` subcommand: `fn(client, **options)` answers the user to print (None: deleted).
    Adds the connection and output options and turns ClientErrors into exit codes."""

    def decorate(fn: Callable[..., User | None]) -> click.Command:
        @functools.wraps(fn)
        def command(
            access_key: str | None,
            access_secret: str | None,
            base_url: str,
            timeout: float,
            max_retries: int,
            output_format: str,
            **options: Any,
        ) -> None:
            if not access_key:
                raise click.UsageError("no access key: pass --access-key or set CHANNEL_ACCESS_KEY")
            if not access_secret:
                raise click.UsageError("no access secret: pass --access-secret or set CHANNEL_ACCESS_SECRET")
            try:
                with Client(access_key, access_secret, base_url, timeout, max_retries) as client:
                    user = fn(client, **options)
            except ValueError as exc:
                raise click.UsageError(str(exc)) from exc
            except ClientError as exc:
                click.echo(f"Error: {exc}", err=True)
                raise SystemExit(exit_code(exc)) from exc
            click.echo(render(user, output_format))

        cli_command = users.command(name)(command)
        cli_command.params.extend(connection_options())
        return cli_command

    return decorate


def exit_code(error: ClientError) -> int:
    if isinstance(error, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, TransportError):
        return EXIT_NO_ANSWER
    return EXIT_API_ERROR


def resolve(client: Client, ref: str) -> str:
    """The user id for `ID` or `@MEMBER` (looked up; NotFoundError if absent)."""
    member_id = member_ref(ref)
    return ref if member_id is None else client.users.get_by_member_id(member_id).id


def update_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The body options shared by `patch` and `upsert`."""
    options = [
        click.option(
            "--profile",
            type=KEY_VALUE,
            multiple=True,
            help=f"Set a profile key; null removes it. {VALUE_HELP}",
        ),
        click.option(
            "--profile-once",
            type=KEY_VALUE,
            multiple=True,
            help="Set a profile key only where the user has none; KEY=VALUE as --profile.",
        ),
        click.option("--clear-profile", is_flag=True, help="Remove every profile key (sends profile: null)."),
        click.option("--tags", help="Replace the tags with this comma-separated list; '' clears."),
        click.option(
            "--unsubscribe-email/--no-unsubscribe-email",
            default=None,
            help="Unsubscribe from email, or subscribe again.",
        ),
        click.option(
            "--unsubscribe-texting/--no-unsubscribe-texting",
            default=None,
            help="Unsubscribe from texting, or subscribe again.",
        ),
        click.option("--blocked/--no-blocked", default=None, help="Block or unblock the user."),
        click.option("--language", help="The user's language, e.g. en or ko."),
        click.option(
            "--if-match",
            type=int,
            metavar="VERSION",
            help="Only if the user is at this version (else a 412 error).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def update_fields(
    profile: tuple[tuple[str, Any], ...],
    profile_once: tuple[tuple[str, Any], ...],
    clear_profile: bool,
    tags: str | None,
    **flags: Any,
) -> dict[str, Any]:
    """Keyword arguments for Users.patch / Users.upsert from the update options."""
    if clear_profile and profile:
        raise click.UsageError("--clear-profile and --profile cannot be combined")
    fields: dict[str, Any] = dict(flags)
    fields["profile"] = None if clear_profile else (dict(profile) if profile else UNSET)
    fields["profile_once"] = dict(profile_once) if profile_once else UNSET
    fields["tags"] = UNSET if tags is None else parse_tags(tags)
    return fields


@user_command("get")
@click.argument("ref", metavar=USER_REF)
def get(client: Client, ref: str) -> User:
    """Show one user, by id or by @memberId."""
    member_id = member_ref(ref)
    if member_id is None:
        return client.users.get(ref)
    return client.users.get_by_member_id(member_id)


@user_command("patch")
@click.argument("ref", metavar=USER_REF)
@update_options
def patch(client: Client, ref: str, **options: Any) -> User:
    """Change an existing user: profile keys merged, --tags replaced, flags set.

    Options left out are not sent. With @MEMBER the member is looked up first (exit 4 if there is
    none); `upsert` creates it instead.
    """
    fields = update_fields(**options)
    return client.users.patch(resolve(client, ref), **fields)


@user_command("upsert")
@click.argument("member", metavar="@MEMBER")
@update_options
def upsert(client: Client, member: str, **options: Any) -> User:
    """Create the member with this memberId, or change it as `patch` does.

    The leading @ is optional; @@x is the memberId "@x".
    """
    fields = update_fields(**options)
    member_id = member_ref(member)
    return client.users.upsert(member if member_id is None else member_id, **fields)


@user_command("create-lead")
@click.option("--profile", type=KEY_VALUE, multiple=True, required=True, help=f"A profile key. {VALUE_HELP}")
def create_lead(client: Client, profile: tuple[tuple[str, Any], ...]) -> User:
    """Create a lead (a user without memberId) with this profile."""
    return client.users.create_lead(dict(profile))


@user_command("delete")
@click.argument("ref", metavar=USER_REF)
@click.option("--if-match", type=int, metavar="VERSION", help="Only if the user is at this version.")
def delete(client: Client, ref: str, if_match: int | None) -> None:
    """Delete a user and its events for good; prints {} (JSON) or `deleted` (table)."""
    member_id = member_ref(ref)
    if member_id is None:
        client.users.delete(ref, if_match=if_match)
    else:
        client.users.delete_by_member_id(member_id, if_match=if_match)


@user_command("block")
@click.argument("ref", metavar=USER_REF)
def block(client: Client, ref: str) -> User:
    """Block a user."""
    return client.users.block(resolve(client, ref))


@user_command("unblock")
@click.argument("ref", metavar=USER_REF)
def unblock(client: Client, ref: str) -> User:
    """Unblock a user."""
    return client.users.unblock(resolve(client, ref))


@user_command("touch")
@click.argument("ref", metavar=USER_REF)
def touch(client: Client, ref: str) -> User:
    """Count a session for a user: sessionsCount + 1, lastSeenAt now."""
    return client.users.touch(resolve(client, ref))
