"""The benchmark driver: `bench/run` sets up its tools, then runs this.

For each population it seeds every target once (cached), then for each run starts every target afresh,
drives each workload with wrk at each connection count, and stops it. It also measures the PostgreSQL
single-statement UPDATE loop. Figures are medians over runs; ratios are taken within a run, then
their median printed. The table goes to stdout, to bench/results/<time>.md, and into BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import shlex
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import pgloop, report  # noqa: E402
from bench.load import Result, run_wrk  # noqa: E402
from bench.targets import (  # noqa: E402
    BENCH, PG_ADMIN, Context, Running, Target, _recreate_db, all_targets, psql,
    upstream_patch_example,
)

REALISTIC = (
    b'{"profile":{"name":"User 7","email":"user7@example.com","mobileNumber":"+821012345678",'
    b'"plan":"gold"},"profileOnce":{"firstSeenCampaign":"spring-sale"},'
    b'"tags":["vip","newsletter"],"unsubscribeEmail":true}'
)
TYPED = (
    b'{"profile":{"name":"User 7","email":"user7@example.com","mobileNumber":"+821012345678",'
    b'"recentPurchaseCount":3},"profileOnce":{"firstName":"Ada"},"tags":["vip","newsletter"],'
    b'"unsubscribeEmail":true}'
)


def probe(r: Running) -> dict[str, int]:
    """Which PATCH bodies a server accepts: upstream's documented example, ours, typed keys only."""
    assert r.ids_file is not None
    uid = r.ids_file.read_text().split("\n", 1)[0]
    host, port = r.url.removeprefix("http://").split(":")
    out = {}
    for name, body in (("upstream's documented example", upstream_patch_example()),
                       ("benchmark body (custom profile key)", REALISTIC),
                       ("typed upstream profile keys only", TYPED), ("{}", b"{}")):
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Content-Type": "application/json"}
        if r.key != "-":
            headers |= {"x-access-key": r.key, "x-access-secret": r.secret}
        conn.request("PATCH", f"{r.prefix}/{uid}", body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        out[name] = resp.status
        conn.close()
    return out


def drive(target: Target, r: Running, args: argparse.Namespace) -> list[tuple[str, int, Result]]:
    out = []
    common = dict(server_pid=r.pid, ids_file=r.ids_file, prefix=r.prefix, put_style=r.put_style,
                  key=r.key, secret=r.secret)
    first = r.workloads[0]
    run_wrk(r.url, mode=first.mode, body_kind=first.body_kind, connections=8,
            duration=args.warmup, **common)  # warm-up, not recorded
    for wl in r.workloads:
        for c in args.connections:
            res = run_wrk(r.url, mode=wl.mode, body_kind=wl.body_kind, connections=c,
                          duration=args.duration, **common)
            print(f"    {target.name:16} {wl.name:18} c={c:<3} {res.rps:9.0f} req/s  p50 "
                  f"{res.p50_ms:7.2f} ms  p99 {res.p99_ms:8.2f} ms  non-200 {res.non200}"
                  f"{' ' + json.dumps(res.statuses) if res.statuses else ''}  rss {res.rss_mb:.0f} MB",
                  flush=True)
            out.append((wl.name, c, res))
    return out


def measure_pgloop(ctx: Context, args: argparse.Namespace) -> list[tuple[str, int, Result]]:
    db = "cu_bench_loop"
    _recreate_db(db)
    dsn = f"{PG_ADMIN}/{db}"
    try:
        asyncio.run(pgloop.prepare(dsn, ctx.population))
        pgloop.measure(dsn, ctx.population, 8, 1)  # warm-up, not recorded
        out = []
        for c in args.connections:
            res = pgloop.measure(dsn, ctx.population, c, args.duration)
            print(f"    {'pg-update-loop':16} {'UPDATE':18} c={c:<3} {res.rps:9.0f} stmt/s p50 "
                  f"{res.p50_ms:7.2f} ms  p99 {res.p99_ms:8.2f} ms", flush=True)
            out.append(("single-statement UPDATE", c, res))
        return out
    finally:
        psql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    p.add_argument("--population", type=int, default=10_000, help="users to seed (default 10,000)")
    p.add_argument("--large", action="store_true", help="also run with 1,000,000 users")
    p.add_argument("--runs", type=int, default=2, help="runs of everything; medians are reported")
    p.add_argument("--duration", type=int, default=5, help="seconds per measured load")
    p.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per server start")
    p.add_argument("--connections", default="1,32", help="comma-separated connection counts")
    p.add_argument("--only", default="", help="comma-separated target names (default: all)")
    p.add_argument("--no-ours", action="store_true", help="skip channel-users itself")
    p.add_argument("--no-markdown", action="store_true", help="do not rewrite BENCHMARKS.md")
    args = p.parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",")]
    only = {s for s in args.only.split(",") if s}

    populations = [args.population] + ([1_000_000] if args.large and args.population != 1_000_000
                                       else [])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    results_dir = BENCH / "results"
    work = results_dir / stamp
    work.mkdir(parents=True, exist_ok=True)
    targets = [t for t in all_targets(not args.no_ours) if not only or t.name in only]
    want_loop = (not only or "pg-update-loop" in only)
    rows: list[report.Row] = []
    probes: dict[str, dict[str, int]] = {}
    commands: dict[str, list[str]] = {}
    started = time.monotonic()
    for pop in populations:
        ctx = Context(pop, sys.executable, results_dir / "cache", work)
        print(f"== population {pop:,}: preparing", flush=True)
        for t in targets:
            t0 = time.monotonic()
            t.prepare(ctx)
            if time.monotonic() - t0 > 1:
                print(f"  {t.name} seeded in {time.monotonic() - t0:.0f} s", flush=True)
        for run in range(args.runs):
            print(f"== population {pop:,}: run {run + 1}/{args.runs}", flush=True)
            for t in targets:
                run_dir = work / f"{pop}-{run}"
                run_dir.mkdir(exist_ok=True)
                with t.start(ctx, run_dir) as r:
                    commands.setdefault(t.name, r.commands)
                    if run == 0 and t.kind in ("ours", "baseline", "peer") and t.name not in probes:
                        probes[t.name] = probe(r)
                    for wl, c, res in drive(t, r, args):
                        rows.append(report.Row(pop, run, t.name, t.label, t.kind, t.procs, wl, c, res))
                # kept as we go, so that an interrupted run still leaves its figures
                (work / "rows.json").write_text(json.dumps([x.to_json() for x in rows], indent=1))
            if want_loop:
                for wl, c, res in measure_pgloop(ctx, args):
                    rows.append(report.Row(pop, run, "pg-update-loop", "Python asyncpg UPDATE loop",
                                           "reference", 1, wl, c, res))
    elapsed = time.monotonic() - started
    invocation = "bench/run " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    md = report.render(rows, probes, commands, invocation, args, elapsed)
    print(md)
    (work / "BENCHMARKS.generated.md").write_text(md)
    (work / "rows.json").write_text(json.dumps([r.to_json() for r in rows], indent=1))
    if not args.no_markdown:
        report.update_benchmarks_md(BENCH.parent / "BENCHMARKS.md", md)
    print(f"results in {work}; total {elapsed / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
