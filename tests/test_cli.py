"""The command line of SPEC section 8, run as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from .conftest import free_port

CLI = [sys.executable, "-m", "channel_users"]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=60, env=env, cwd=cwd)


def test_channels_create_prints_only_the_credentials(server_database: str) -> None:
    result = run("channels", "create", "--name", "Shop", "--database", server_database)
    assert result.returncode == 0, result.stderr
    credentials = json.loads(result.stdout)
    assert set(credentials) == {"channelId", "accessKey", "accessSecret"}
    assert credentials["channelId"].isdigit()
    second = json.loads(run("channels", "create", "--name", "B", "--database", server_database).stdout)
    assert second["channelId"] != credentials["channelId"]


def test_migrate_applies_once(server_database: str) -> None:
    first = run("migrate", "--database", server_database)
    assert first.returncode == 0 and "applied" in first.stdout and "0001_users.sql" in first.stdout
    again = run("migrate", "--database", server_database)
    assert again.stdout.strip() == "applied 0 migration(s)"


def test_database_defaults_to_environment_then_local_file(tmp_path: Path) -> None:
    env_db = tmp_path / "from-env.db"
    env = {"CHANNEL_USERS_DATABASE": f"sqlite:///{env_db}", "PATH": "/usr/bin:/bin"}
    assert run("migrate", env=env).returncode == 0
    assert env_db.exists()
    assert run("migrate", env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path).returncode == 0
    assert (tmp_path / "channel-users.db").exists()


def test_unsupported_database_url_is_an_error(tmp_path: Path) -> None:
    result = run("migrate", "--database", "mysql://x")
    assert result.returncode == 2 and "unsupported database URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_is_the_default_command(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*CLI, "--port", str(port), "--database", f"sqlite:///{tmp_path / 'd.db'}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        credentials = json.loads(process.stdout.readline())
        headers = {"x-access-key": credentials["accessKey"], "x-access-secret": credentials["accessSecret"]}
        for _ in range(100):
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/open/v5/channel", headers=headers)
                break
            except httpx.TransportError:
                subprocess.run(["sleep", "0.1"])
        assert response.json()["channel"]["id"] == credentials["channelId"]
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=15)
    assert f"listening on http://127.0.0.1:{port}" in stderr


def test_help_lists_every_command() -> None:
    result = run("--help")
    for command in ("serve", "channels", "migrate"):
        assert command in result.stdout
    assert "--workers" in run("serve", "--help").stdout
