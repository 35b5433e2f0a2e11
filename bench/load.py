"""Driving a server with wrk and reading back what the Lua script reports."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import RssSampler

SCRIPT = Path(__file__).parent / "wrk_scripts" / "users.lua"


@dataclass
class Result:
    """One measured load: requests/s, latency in ms, answers that were not 200, peak server RSS."""

    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non200: int
    statuses: dict[str, int] = field(default_factory=dict)
    socket_errors: int = 0
    rss_mb: float = 0.0
    command: str = ""


def wrk_path() -> str:
    path = shutil.which("wrk")
    if path is None:
        raise SystemExit("wrk is not installed (bench/run installs it with apt-get)")
    return path


def run_wrk(
    url: str,
    *,
    mode: str,
    connections: int,
    duration: float,
    server_pid: int | None = None,
    ids_file: Path | None = None,
    prefix: str = "/open/v5/users",
    put_style: str = "member",
    body_kind: str = "realistic",
    key: str = "-",
    secret: str = "-",
    timeout_s: int = 10,
) -> Result:
    """Run one wrk load (one thread: the machine has 2 cores and the server needs them)."""
    argv = [
        wrk_path(), "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", f"--timeout={timeout_s}s",
        "--latency", "-s", str(SCRIPT), url, "--",
        mode, str(ids_file) if ids_file else "-", prefix, put_style, body_kind, key, secret,
    ]
    sampler = RssSampler(server_pid) if server_pid else None
    if sampler:
        sampler.__enter__()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=duration + timeout_s + 60)
    finally:
        if sampler:
            sampler.__exit__()
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("BENCHJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {proc.stdout}\n{proc.stderr}")
    data = json.loads(line.removeprefix("BENCHJSON "))
    errs = sum(data["socket_errors"].values())
    shown = [a if a != secret or secret == "-" else "$SECRET" for a in argv]
    shown = [a if a != key or key == "-" else "$KEY" for a in shown]
    return Result(
        rps=data["requests"] / (data["duration_us"] / 1e6),
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        non200=data["other"],
        statuses=data["statuses"],
        socket_errors=errs,
        rss_mb=(sampler.peak / 2**20) if sampler else 0.0,
        command=" ".join(shown),
    )
