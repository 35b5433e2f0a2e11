"""Turning measured rows into medians, ratios, the target checks and the Markdown report."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.load import Result

START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"
PATCH_C = 32  # the connection count the targets are stated for


@dataclass
class Row:
    population: int
    run: int
    name: str
    label: str
    kind: str
    procs: int
    workload: str
    conns: int
    result: Result

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _med(xs: list[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


class Table:
    def __init__(self, rows: list[Row]) -> None:
        self.rows = rows
        self.by: dict[tuple[int, str, str, int, int], Row] = {
            (r.population, r.name, r.workload, r.conns, r.run): r for r in rows
        }
        self.runs = sorted({r.run for r in rows})

    def rps(self, pop: int, name: str, wl: str, c: int, run: int) -> float | None:
        r = self.by.get((pop, name, wl, c, run))
        return r.result.rps if r else None

    def ceiling(self, pop: int, procs: int, c: int, run: int) -> float | None:
        return self.rps(pop, f"ceiling-{procs}", "GET fixed 1.5 KB", c, run)

    def ratio(self, pop: int, name: str, wl: str, c: int, other: str, other_wl: str | None = None,
              other_c: int | None = None) -> float | None:
        """Median over runs of (name's req/s) / (other's req/s), both from the same run."""
        vals = []
        for run in self.runs:
            a = self.rps(pop, name, wl, c, run)
            b = self.rps(pop, other, other_wl or wl, other_c or c, run)
            if a and b:
                vals.append(a / b)
        return _med(vals)

    def ceiling_ratio(self, pop: int, name: str, procs: int, wl: str, c: int) -> float | None:
        vals = []
        for run in self.runs:
            a, b = self.rps(pop, name, wl, c, run), self.ceiling(pop, procs, c, run)
            if a and b:
                vals.append(a / b)
        return _med(vals)

    def median(self, pop: int, name: str, wl: str, c: int) -> dict[str, float] | None:
        rs = [self.by[k].result for k in self.by if k[:4] == (pop, name, wl, c)]
        if not rs:
            return None
        return {
            "rps": statistics.median(r.rps for r in rs),
            "p50": statistics.median(r.p50_ms for r in rs),
            "p99": statistics.median(r.p99_ms for r in rs),
            "non200": sum(r.non200 + r.socket_errors for r in rs),
            "requests": sum(r.requests for r in rs),
            "rss": max(r.rss_mb for r in rs),
        }


def _f(x: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if x is None else fmt.format(x)


def _sh(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> list[str]:
    cpu = re.search(r"Model name:\s*(.+)", _sh(["lscpu"]))
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    debian = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() \
        else "?"
    versions = []
    for pkg in ("channel-users", "uvicorn", "uvloop", "httptools", "starlette", "msgspec", "asyncpg",
                "fastapi", "pydantic", "sqlalchemy", "pytest-benchmark"):
        try:
            versions.append(f"{pkg} {importlib.metadata.version(pkg)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    pkgjson = json.loads((Path(__file__).parent / "package.json").read_text())["dependencies"]
    wrk = _sh(["wrk", "-v"]).splitlines()
    commit = _sh(["git", "-C", str(Path(__file__).parent), "rev-parse", "--short", "HEAD"])
    dirty = _sh(["git", "-C", str(Path(__file__).parent), "status", "--porcelain"])
    return [
        f"- CPU: {cpu.group(1) if cpu else '?'}, {os.cpu_count()} cores; memory {mem:.0f} GiB; "
        f"Debian {debian}, Linux {platform.release()}",
        f"- Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; "
        f"{_sh(['psql', '-h', '127.0.0.1', '-U', 'postgres', '-Atc', 'show server_version'])} "
        f"PostgreSQL server (default settings); {wrk[0] if wrk else 'wrk ?'}; node {_sh(['node', '-v'])}",
        f"- {', '.join(versions)}; "
        + ", ".join(f"{k} {v}" for k, v in pkgjson.items()),
        f"- project commit {commit}{' (with uncommitted changes)' if dirty else ''}",
    ]


def render(rows: list[Row], probes: dict[str, dict[str, int]], commands: dict[str, list[str]],
           invocation: str, args: argparse.Namespace, elapsed: float) -> str:
    t = Table(rows)
    out = [
        f"Command: `{invocation}` ({len(t.runs)} run(s), {args.duration:g} s per load, "
        f"{', '.join(map(str, args.connections))} connections, wrk with 1 thread; "
        f"took {elapsed / 60:.1f} min).",
        "",
        "Machine and versions:",
        *machine(),
        "",
    ]
    pops = sorted({r.population for r in rows})
    seen: dict[tuple[str, str, int], None] = {}
    for r in rows:
        seen.setdefault((r.name, r.workload, r.conns), None)
    for pop in pops:
        out += [
            f"### {pop:,} users (medians of {len(t.runs)} runs)",
            "",
            "| server | procs | workload | conns | req/s | p50 ms | p99 ms | non-200 | × ceiling "
            "| ÷ baseline | ÷ Prism | ÷ json-server | peak RSS MB |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, wl, c in seen:
            m = t.median(pop, name, wl, c)
            if m is None:
                continue
            row = next(r for r in rows if r.name == name and r.workload == wl)
            ceil = None if row.kind in ("ceiling", "reference") else t.ceiling_ratio(
                pop, name, row.procs, wl, c)
            vs = ["", "", ""]
            if row.kind == "ours":
                vs = [_f(t.ratio(pop, name, wl, c, "baseline"), "{:.1f}×"),
                      _f(t.ratio(pop, name, wl, c, "prism",
                                 {"PATCH": "PATCH typed body", "PUT upsert": "PUT typed body"}.get(wl, wl)), "{:.1f}×"),
                      _f(t.ratio(pop, name, wl, c, "json-server"), "{:.1f}×")]
            out.append(
                f"| {row.label} | {row.procs} | {wl} | {c} | {m['rps']:,.0f} | {m['p50']:.2f} | "
                f"{m['p99']:.2f} | {m['non200']:,} of {m['requests']:,} | {_f(ceil)} | "
                + " | ".join(vs) + f" | {m['rss']:.0f} |"
            )
        out.append("")
    out += [
        "Ratios are taken inside each run, then the median is shown. × ceiling compares with the "
        "plain ASGI app at the same process count and connections. ÷ Prism compares our PATCH with "
        "Prism's PATCH / PUT of a body it accepts (typed keys only; it answers 422 to ours). json-server "
        "has no upsert by memberId: its PUT replaces the user found by id.",
        "",
    ]
    out += checks(t, pops)
    if probes:
        names = list(next(iter(probes.values())))
        out += ["### What each server answers to PATCH bodies", "",
                "| server | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for server, res in probes.items():
            out.append(f"| {server} | " + " | ".join(str(res.get(n, "—")) for n in names) + " |")
        out.append("")
    out += ["### Server commands", ""]
    for name, cmds in commands.items():
        out += [f"- {name}: `{c}`" for c in cmds]
    out.append("")
    return "\n".join(out)


def checks(t: Table, pops: list[int]) -> list[str]:
    out = ["### Targets", "", "| target | figure | met |", "|---|---|---|"]

    def line(what: str, figure: str, ok: bool | None) -> None:
        out.append(f"| {what} | {figure} | {'—' if ok is None else ('yes' if ok else '**no**')} |")

    for pop in pops:
        m = t.median(pop, "ours-sqlite-1", "PATCH", PATCH_C)
        if m is None:
            continue
        cr = t.ceiling_ratio(pop, "ours-sqlite-1", 1, "PATCH", PATCH_C)
        line(f"{pop:,}: SQLite 1 proc PATCH c=32 ≥ 50% of ceiling", _f(cr, "{:.0%}"),
             None if cr is None else cr >= 0.5)
        line(f"{pop:,}: SQLite 1 proc PATCH c=32 p99 ≤ 10 ms", f"{m['p99']:.2f} ms", m["p99"] <= 10)
        line(f"{pop:,}: SQLite 1 proc PATCH c=32 every answer 200", f"{m['non200']} not 200",
             m["non200"] == 0)
        b = t.ratio(pop, "ours-sqlite-1", "PATCH", PATCH_C, "baseline")
        line(f"{pop:,}: ≥ 3× FastAPI baseline (PATCH c=32)", _f(b, "{:.1f}×"),
             None if b is None else b >= 3)
        loop = t.ratio(pop, "ours-postgres-2", "PATCH", PATCH_C, "pg-update-loop",
                       "single-statement UPDATE")
        line(f"{pop:,}: PostgreSQL 2 procs PATCH c=32 ≥ 80% of the UPDATE loop", _f(loop, "{:.0%}"),
             None if loop is None else loop >= 0.8)
    if len(pops) > 1 and 1_000_000 in pops:
        small = min(pops)
        for name in ("ours-sqlite-1", "ours-postgres-1", "ours-postgres-2"):
            procs = int(name[-1])
            a = t.ceiling_ratio(1_000_000, name, procs, "PATCH", PATCH_C)
            b = t.ceiling_ratio(small, name, procs, "PATCH", PATCH_C)
            ma, mb = t.median(1_000_000, name, "PATCH", PATCH_C), t.median(small, name, "PATCH",
                                                                             PATCH_C)
            if a and b and ma and mb:
                line(f"{name} PATCH c=32: 1,000,000 users within 10% of {small:,}",
                     f"{a / b:.0%} (× ceiling); raw {ma['rps'] / mb['rps']:.0%}", a / b >= 0.9)
        m = t.median(1_000_000, "ours-sqlite-1", "PATCH", PATCH_C)
        if m:
            line("1,000,000 users, SQLite PATCH c=32: server peak RSS < 200 MB", f"{m['rss']:.0f} MB",
                 m["rss"] < 200)
    out.append("")
    return out


def update_benchmarks_md(path: Path, generated: str) -> None:
    """Replace the generated block of BENCHMARKS.md (between the markers), keeping the prose around it."""
    text = path.read_text() if path.exists() else (
        "# Benchmarks\n\nRun with `bench/run` (see the README). The block below is written by it.\n\n"
        f"{START}\n{END}\n"
    )
    if START not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1] if END in rest else ""
    path.write_text(f"{head}{START}\n{generated}\n{END}{tail}")
