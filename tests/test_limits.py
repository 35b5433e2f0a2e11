"""Limits that keep one bad client from hurting the others, against a real server on loopback:
slow request heads (slowloris), idle connections, oversized heads and bodies."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from channel_users.server import MAX_HEAD_BYTES

from .conftest import LiveServer, start_server

HEAD_TIMEOUT = 2.0
SLOW_CLIENTS = 200


@pytest.fixture
def guarded_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    monkeypatch.setenv("CHANNEL_USERS_HEAD_TIMEOUT", str(HEAD_TIMEOUT))
    monkeypatch.setenv("CHANNEL_USERS_BODY_TIMEOUT", str(HEAD_TIMEOUT))
    server = start_server(f"sqlite:///{tmp_path / 'limits.db'}", tmp_path)
    yield server
    server.stop()


def _connect(server: LiveServer) -> socket.socket:
    port = int(server.base_url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    sock.settimeout(3)
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                return True
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slow_clients_do_not_stop_others_and_are_cut_off(guarded_server: LiveServer) -> None:
    slow = []
    try:
        for i in range(SLOW_CLIENTS):
            sock = _connect(guarded_server)
            if i % 2:  # half send part of a head, half send nothing at all
                sock.sendall(b"GET /open/v5/channel HTTP/1.1\r\nHost: x\r\n")
            slow.append(sock)
        started = time.monotonic()
        with httpx.Client(base_url=guarded_server.base_url, headers=guarded_server.headers, timeout=5) as c:
            for _ in range(20):
                for sock in slow[1::2][:20]:  # trickle: one more header byte now and then
                    sock.sendall(b"X")
                assert c.get("/open/v5/channel").status_code == 200
        assert time.monotonic() - started < 10
        time.sleep(HEAD_TIMEOUT + 0.5)
        assert all(_closed_by_server(sock) for sock in slow[:40]), "a slow client was not cut off"
    finally:
        for sock in slow:
            sock.close()


def test_oversized_head_is_431_in_our_envelope(guarded_server: LiveServer) -> None:
    sock = _connect(guarded_server)
    try:
        sock.sendall(b"GET /open/v5/channel HTTP/1.1\r\nHost: x\r\n")
        filler = b"x-filler: " + b"a" * 1000 + b"\r\n"
        try:
            for _ in range(MAX_HEAD_BYTES // len(filler) + 4):
                sock.sendall(filler)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        sock.settimeout(5)
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    finally:
        sock.close()
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert httpx.Response(431, content=body).json()["errors"] == [
        {"message": "request head over 64 KiB", "field": "headers"}
    ]
    with httpx.Client(base_url=guarded_server.base_url, headers=guarded_server.headers) as c:
        assert c.get("/open/v5/channel").status_code == 200


def test_slow_body_is_cut_off(guarded_server: LiveServer) -> None:
    sock = _connect(guarded_server)
    try:
        head = (
            "PATCH /open/v5/users/0123456789abcdef0123 HTTP/1.1\r\nHost: x\r\n"
            f"x-access-key: {guarded_server.access_key}\r\n"
            f"x-access-secret: {guarded_server.access_secret}\r\n"
            "content-type: application/json\r\ncontent-length: 100\r\n\r\n{"
        )
        sock.sendall(head.encode())
        started = time.monotonic()
        assert _closed_by_server(sock)
        assert time.monotonic() - started < HEAD_TIMEOUT + 2.5
    finally:
        sock.close()


def test_ten_megabyte_body_over_a_socket_is_413(guarded_server: LiveServer) -> None:
    with httpx.Client(base_url=guarded_server.base_url, headers=guarded_server.headers, timeout=30) as c:
        r = c.post("/open/v5/users", content=b'{"profile":{"a":"' + b"x" * 10_000_000 + b'"}}',
                   headers={"content-type": "application/json"})  # fmt: skip
        assert r.status_code == 413
        assert r.json()["errors"] == [{"message": "request body is larger than 1 MiB", "field": "body"}]
        assert c.get("/open/v5/channel").status_code == 200
