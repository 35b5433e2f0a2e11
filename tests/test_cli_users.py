"""`channel-users users ...` against a real server over a real socket, plus its argument parsing."""

from __future__ import annotations

import json
import socket
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from channel_users.cli_output import render, table
from channel_users.cli_users import users
from channel_users.cli_values import parse_tags, parse_value
from channel_users.client_models import User

# Arguments and output, no server


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-3.5", -3.5),
        ("true", True),
        ("false", False),
        ("null", None),
        ('"01234"', "01234"),
        ('"42"', "42"),
        ('"null"', "null"),
        ("01234", "01234"),
        ("Ada Lovelace", "Ada Lovelace"),
        ("", ""),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("+821012345678", "+821012345678"),
        ("a=b", "a=b"),
    ],
)
def test_parse_value_reads_json_scalars_else_text(text: str, value: Any) -> None:
    parsed = parse_value(text)
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize("text", ["[1, 2]", '{"a": 1}'])
def test_parse_value_refuses_arrays_and_objects(text: str) -> None:
    with pytest.raises(ValueError, match="not arrays or objects"):
        parse_value(text)


def test_parse_tags_splits_on_commas() -> None:
    assert parse_tags("a, b ,,c") == ["a", "b", "c"]
    assert parse_tags("") == []


def test_table_flattens_and_formats_times() -> None:
    user = User.from_json(
        {"id": "u1", "profile": {"name": "Ada", "age": 3}, "tags": ["a", "b"], "blocked": False,
         "createdAt": 1700000000123}
    )  # fmt: skip
    assert table(user.raw).splitlines() == [
        "id            u1",
        "profile.name  Ada",
        "profile.age   3",
        "tags          a, b",
        "blocked       false",
        "createdAt     2023-11-14T22:13:20.123Z",
    ]
    assert render(None, "table") == "deleted"
    assert render(None, "json") == "{}"


def test_every_command_and_option_has_help() -> None:
    assert users.help
    commands = users.commands
    assert set(commands) == {
        "get", "patch", "upsert", "create-lead", "delete", "block", "unblock", "touch",
    }  # fmt: skip
    for name, command in commands.items():
        assert command.help, name
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"{name} {param.opts}"
        result = CliRunner().invoke(users, [name, "--help"])
        assert result.exit_code == 0
        assert "--base-url" in result.stdout and "--format" in result.stdout


# Against the real server


@pytest.fixture
def run(live_server: Any) -> Any:
    runner = CliRunner(
        env={
            "CHANNEL_ACCESS_KEY": live_server.access_key,
            "CHANNEL_ACCESS_SECRET": live_server.access_secret,
            "CHANNEL_BASE_URL": live_server.base_url,
        }
    )

    def invoke(*args: str) -> Result:
        return runner.invoke(users, list(args), catch_exceptions=False)

    return invoke


def ok(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_upsert_types_values_and_get_reads_back(run: Any, live_server: Any) -> None:
    user = ok(
        run(
            "upsert", "@m-1",
            "--profile", "name=Ada", "--profile", "age=30", "--profile", "vip=true",
            "--profile", 'zip="01234"', "--profile", "score=2.5", "--profile", "code=007",
            "--tags", "VIP, b",
        )
    )  # fmt: skip
    assert user["memberId"] == "m-1"
    assert user["channelId"] == live_server.channel_id
    assert user["profile"] == {
        "name": "Ada", "age": 30, "vip": True, "zip": "01234", "score": 2.5, "code": "007",
    }  # fmt: skip
    assert sorted(user["tags"]) == ["b", "vip"]
    assert ok(run("get", "@m-1")) == user
    assert ok(run("get", user["id"])) == user


def test_upsert_without_at_sign_takes_the_whole_member_id(run: Any) -> None:
    user = ok(run("upsert", "m-2", "--profile", "name=Bo"))
    assert user["memberId"] == "m-2"
    assert ok(run("upsert", "@@m-3", "--profile", "name=Cy"))["memberId"] == "@m-3"


def test_patch_sends_only_given_options(run: Any) -> None:
    lead = ok(run("create-lead", "--profile", "name=Di", "--profile", "age=40"))
    assert lead["type"] == "lead"
    user = ok(
        run(
            "patch", lead["id"], "--profile", "age=null", "--profile-once", "name=Other",
            "--profile-once", "city=Busan", "--tags", "a,b", "--unsubscribe-email",
        )
    )  # fmt: skip
    assert user["profile"] == {"name": "Di", "city": "Busan"}
    assert user["tags"] == ["a", "b"]
    assert user["unsubscribeEmail"] is True
    assert user["version"] == lead["version"] + 1

    user = ok(run("patch", lead["id"], "--no-unsubscribe-email", "--tags", ""))
    assert user["unsubscribeEmail"] is False
    assert "tags" not in user or user["tags"] == []
    assert user["profile"] == {"name": "Di", "city": "Busan"}

    user = ok(run("patch", lead["id"], "--clear-profile", "--unsubscribe-texting", "--language", "ko"))
    assert "profile" not in user or user["profile"] == {}
    assert user["unsubscribeTexting"] is True
    assert user["language"] == "ko"


def test_patch_block_unblock_touch_by_member(run: Any) -> None:
    member = ok(run("upsert", "@m-4", "--profile", "name=Eve"))
    assert ok(run("patch", "@m-4", "--profile", "plan=pro"))["profile"]["plan"] == "pro"
    assert ok(run("block", "@m-4"))["blocked"] is True
    assert ok(run("unblock", member["id"]))["blocked"] is False
    touched = ok(run("touch", "@m-4"))
    assert touched["sessionsCount"] == member.get("sessionsCount", 0) + 1
    assert ok(run("patch", member["id"], "--blocked"))["blocked"] is True
    assert ok(run("patch", member["id"], "--no-blocked"))["blocked"] is False


def test_delete_by_id_and_member(run: Any) -> None:
    lead = ok(run("create-lead", "--profile", "name=Fay"))
    result = run("delete", lead["id"])
    assert result.exit_code == 0 and json.loads(result.stdout) == {}
    ok(run("upsert", "@m-5", "--profile", "name=Gus"))
    result = run("delete", "@m-5", "--format", "table")
    assert result.exit_code == 0 and result.stdout == "deleted\n"
    for ref in (lead["id"], "@m-5"):
        missing = run("get", ref)
        assert missing.exit_code == 4
        assert missing.stdout == ""
        assert missing.stderr.startswith("Error: 404 not_found: ")


def test_table_format(run: Any) -> None:
    result = run("upsert", "@m-6", "--profile", "name=Hal", "--tags", "x", "--format", "table")
    assert result.exit_code == 0
    rows = dict(line.split(maxsplit=1) for line in result.stdout.splitlines())
    assert rows["memberId"] == "m-6"
    assert rows["profile.name"] == "Hal"
    assert rows["tags"] == "x"
    assert rows["member"] == "true"
    assert rows["createdAt"].endswith("Z") and "T" in rows["createdAt"]


def test_invalid_input_exits_1_with_field_errors(run: Any) -> None:
    lead = ok(run("create-lead", "--profile", "name=Ivy"))
    result = run("patch", lead["id"], "--profile", "mobileNumber=12ab", "--tags", "a,b")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: 400 bad_request: ")
    assert "profile.mobileNumber: " in result.stderr


def test_flags_override_missing_environment(live_server: Any) -> None:
    runner = CliRunner(env={"CHANNEL_ACCESS_KEY": None, "CHANNEL_ACCESS_SECRET": None})
    args = ["create-lead", "--profile", "name=Jo", "--base-url", live_server.base_url]
    missing = runner.invoke(users, args)
    assert missing.exit_code == 2
    assert "no access key: pass --access-key or set CHANNEL_ACCESS_KEY" in missing.stderr
    result = runner.invoke(
        users,
        [*args, "--access-key", live_server.access_key, "--access-secret", live_server.access_secret],
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["profile"] == {"name": "Jo"}
    wrong = runner.invoke(users, [*args, "--access-key", live_server.access_key, "--access-secret", "wrong"])
    assert wrong.exit_code == 1
    assert wrong.stderr.startswith("Error: 401 unauthorized: ")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["patch", "u1", "--profile", "name"], "'name' is not KEY=VALUE"),
        (["patch", "u1", "--profile", "=x"], "'=x' is not KEY=VALUE"),
        (["patch", "u1", "--profile", "a=[1]"], "a: profile values are strings"),
        (["patch", "u1", "--clear-profile", "--profile", "a=1"], "cannot be combined"),
        (["get", "@"], "member_id must not be empty"),
        (["create-lead"], "Missing option '--profile'"),
        (["get", "u1", "--format", "xml"], "Invalid value for '--format'"),
    ],
)
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    env = {"CHANNEL_ACCESS_KEY": "k", "CHANNEL_ACCESS_SECRET": "s", "CHANNEL_BASE_URL": "http://x.test"}
    result = CliRunner(env=env).invoke(users, args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_unreachable_server_exits_3() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(
        users,
        ["get", "u1", "--access-key", "k", "--access-secret", "s", "--max-retries", "0",
         "--base-url", f"http://127.0.0.1:{port}"],
    )  # fmt: skip
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: no answer from 127.0.0.1: ")
