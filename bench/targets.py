"""The servers the benchmark drives: channel-users itself, the ceiling, the FastAPI baseline, the peers.

Each target seeds its population once (`prepare`, cached under bench/results/cache, keyed by population
and by the code that shapes the data) and starts a fresh copy of it for every run (`start`), so every run
begins from the same data. `start` is a context manager: the server is stopped however the block ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import Server, free_port

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
UPSTREAM_DOC = ROOT / "upstream" / "channel-open-api-v5.swagger.json"
PG_ADMIN = os.environ.get("BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
API_SEED_LIMIT = 100_000  # above this, seed through the store layer (HTTP is too slow)
UVICORN_FLAGS = ["--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning"]


@dataclass
class Workload:
    name: str  # as printed: PATCH, GET, PUT upsert, PATCH (accepted body), fixed 1.5 KB
    mode: str  # the Lua script's mode
    body_kind: str = "realistic"


PATCH = Workload("PATCH", "patch")
GET = Workload("GET", "get")
PUT = Workload("PUT upsert", "put")
PUT_TYPED = Workload("PUT typed body", "put", "typed")
PATCH_TYPED = Workload("PATCH typed body", "patch", "typed")
FIXED = Workload("GET fixed 1.5 KB", "fixed")


@dataclass
class Running:
    url: str
    pid: int
    workloads: list[Workload]
    ids_file: Path | None = None
    key: str = "-"
    secret: str = "-"
    prefix: str = "/open/v5/users"
    put_style: str = "member"
    commands: list[str] = field(default_factory=list)


@dataclass
class Context:
    population: int
    python: str
    cache: Path
    work: Path  # scratch for this invocation

    def cache_dir(self, name: str) -> Path:
        d = self.cache / f"{name}-{self.population}"
        d.mkdir(parents=True, exist_ok=True)
        return d


def _digest(*paths: Path) -> str:
    h = hashlib.sha256()
    for base in paths:
        files = sorted(p for p in base.rglob("*") if p.is_file() and "__pycache__" not in p.parts) \
            if base.is_dir() else [base]
        for f in files:
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _stamp_ok(d: Path, stamp: str) -> bool:
    return (d / "stamp").exists() and (d / "stamp").read_text() == stamp


def _copy_sqlite(src: Path, dst: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        s = Path(str(src) + suffix)
        d = Path(str(dst) + suffix)
        if d.exists():
            d.unlink()
        if s.exists():
            shutil.copyfile(s, d)


def psql(sql: str, db: str = "postgres") -> str:
    out = subprocess.run(
        ["psql", f"{PG_ADMIN}/{db}", "-v", "ON_ERROR_STOP=1", "-Atc", sql],
        capture_output=True, text=True, check=True,
    )
    return out.stdout.strip()


def _recreate_db(name: str, template: str | None = None) -> None:
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))


class Target:
    name = ""
    label = ""
    procs = 1
    kind = ""  # ceiling | ours | baseline | peer | reference

    def prepare(self, ctx: Context) -> None:
        """Seed the population once; a no-op when the cache is current."""

    @contextlib.contextmanager
    def start(self, ctx: Context, run_dir: Path) -> Iterator[Running]:
        raise NotImplementedError
        yield


class Ceiling(Target):
    kind = "ceiling"

    def __init__(self, procs: int) -> None:
        self.procs, self.name = procs, f"ceiling-{procs}"
        self.label = "ceiling (plain ASGI, fixed 1.5 KB)"

    @contextlib.contextmanager
    def start(self, ctx: Context, run_dir: Path) -> Iterator[Running]:
        port = free_port()
        argv = [ctx.python, "-m", "uvicorn", "bench.ceiling:app", "--host", "127.0.0.1", "--port",
                str(port), "--workers", str(self.procs), "--lifespan", "off", *UVICORN_FLAGS]
        with Server(self.name, argv, port, cwd=ROOT, log=run_dir / f"{self.name}.log") as s:
            yield Running(s.url, s.pid, [FIXED], commands=[" ".join(["python", *argv[1:]])])


class Ours(Target):
    kind = "ours"

    def __init__(self, db: str, procs: int) -> None:
        self.db, self.procs = db, procs
        self.name = f"ours-{db}-{procs}"
        self.label = f"channel-users, {'SQLite' if db == 'sqlite' else 'PostgreSQL'}"

    @staticmethod
    def exe(ctx: Context) -> str:
        return str(Path(ctx.python).parent / "channel-users")

    def _stamp(self, ctx: Context) -> str:
        store = ROOT / "channel_users" / "store"
        return f"{ctx.population}:{_digest(store) if store.exists() else 'none'}:{self.db}"

    def _seed_db_name(self, ctx: Context) -> str:
        return f"cu_bench_seed_{ctx.population}"

    def _url(self, ctx: Context, d: Path, dbname: str) -> str:
        return f"sqlite:///{d / 'users.db'}" if self.db == "sqlite" else f"{PG_ADMIN}/{dbname}"

    def prepare(self, ctx: Context) -> None:
        from bench.seed import put_members

        d = ctx.cache_dir(f"ours-{self.db}")
        stamp = self._stamp(ctx)
        seed_db = self._seed_db_name(ctx)
        if _stamp_ok(d, stamp) and (
            self.db == "sqlite" or psql(f"SELECT 1 FROM pg_database WHERE datname = '{seed_db}'")
        ):
            return
        (d / "stamp").unlink(missing_ok=True)
        if self.db == "sqlite":
            _copy_sqlite(Path("/nonexistent"), d / "users.db")
        else:
            _recreate_db(seed_db)
        url = self._url(ctx, d, seed_db)
        out = subprocess.run([self.exe(ctx), "channels", "create", "--name", "bench", "--database", url],
                             capture_output=True, text=True, check=True)
        keys = json.loads(out.stdout)
        if ctx.population > API_SEED_LIMIT:
            print(f"  seeding {ctx.population:,} users into {self.name} through the store layer",
                  flush=True)
            subprocess.run([ctx.python, str(BENCH / "seed_store.py"), url, keys["channelId"],
                            str(ctx.population), str(d / "ids.txt")], check=True)
        else:
            port = free_port()
            argv = [self.exe(ctx), "serve", "--host", "127.0.0.1", "--port", str(port),
                    "--database", url, "--workers", "1" if self.db == "sqlite" else "2"]
            print(f"  seeding {ctx.population:,} users into {self.name} through PUT"
                  " /users/@memberId", flush=True)
            with Server(f"seed-{self.name}", argv, port, log=ctx.work / f"seed-{self.name}.log",
                        env=SERVER_ENV):
                ids = put_members("127.0.0.1", port, keys["accessKey"], keys["accessSecret"],
                                  ctx.population)
            (d / "ids.txt").write_text("\n".join(ids) + "\n")
        if self.db == "postgres":
            psql("VACUUM ANALYZE", seed_db)
        (d / "keys.json").write_text(json.dumps(keys))
        (d / "stamp").write_text(stamp)

    @contextlib.contextmanager
    def start(self, ctx: Context, run_dir: Path) -> Iterator[Running]:
        d = ctx.cache_dir(f"ours-{self.db}")
        keys = json.loads((d / "keys.json").read_text())
        run_db = f"cu_bench_run_{os.getpid()}"
        if self.db == "sqlite":
            _copy_sqlite(d / "users.db", run_dir / "users.db")
            url = f"sqlite:///{run_dir / 'users.db'}"
        else:
            _recreate_db(run_db, self._seed_db_name(ctx))
            url = f"{PG_ADMIN}/{run_db}"
        port = free_port()
        argv = [self.exe(ctx), "serve", "--host", "127.0.0.1", "--port", str(port), "--database", url,
                "--workers", str(self.procs)]
        try:
            with Server(self.name, argv, port, log=run_dir / f"{self.name}.log", env=SERVER_ENV) as s:
                yield Running(s.url, s.pid, [PATCH, GET, PUT], d / "ids.txt", keys["accessKey"],
                              keys["accessSecret"], commands=[" ".join(["channel-users", *argv[1:]])])
        finally:
            if self.db == "postgres":
                psql(f'DROP DATABASE IF EXISTS "{run_db}" WITH (FORCE)')


# Rate limits off for the benchmark; the server reads these if it has them.
SERVER_ENV = {"CHANNEL_USERS_RATE_LIMIT": "off", "CHANNEL_USERS_LOG_LEVEL": "warning"}


class Baseline(Target):
    kind = "baseline"
    name = "baseline"
    label = "baseline: FastAPI + pydantic + SQLAlchemy, SQLite"

    def prepare(self, ctx: Context) -> None:
        d = ctx.cache_dir("baseline")
        stamp = f"{ctx.population}:{_digest(BENCH / 'baseline_fastapi.py')}"
        if _stamp_ok(d, stamp):
            return
        out = subprocess.run(
            [ctx.python, str(BENCH / "baseline_fastapi.py"), "seed", str(d / "baseline.db"),
             str(ctx.population), str(d / "ids.txt")],
            capture_output=True, text=True, check=True, cwd=ROOT,
        )
        (d / "keys.json").write_text(out.stdout)
        (d / "stamp").write_text(stamp)

    @contextlib.contextmanager
    def start(self, ctx: Context, run_dir: Path) -> Iterator[Running]:
        d = ctx.cache_dir("baseline")
        keys = json.loads((d / "keys.json").read_text())
        _copy_sqlite(d / "baseline.db", run_dir / "baseline.db")
        port = free_port()
        argv = [ctx.python, "-m", "uvicorn", "bench.baseline_fastapi:app", "--host", "127.0.0.1",
                "--port", str(port), "--workers", "1", *UVICORN_FLAGS]
        env = {"BASELINE_DB": str(run_dir / "baseline.db")}
        with Server(self.name, argv, port, cwd=ROOT, env=env, log=run_dir / "baseline.log") as s:
            yield Running(s.url, s.pid, [PATCH, GET, PUT], d / "ids.txt", keys["accessKey"],
                          keys["accessSecret"],
                          commands=["BASELINE_DB=baseline.db python " + " ".join(argv[1:])])


def node_bin(name: str) -> str:
    return str(BENCH / "node_modules" / ".bin" / name)


class Prism(Target):
    kind = "peer"
    name = "prism"
    label = "Prism mock (upstream OpenAPI)"

    @contextlib.contextmanager
    def start(self, ctx: Context, run_dir: Path) -> Iterator[Running]:
        ids = ctx.cache_dir("baseline") / "ids.txt"  # any ids of the population: Prism keeps no state
        port = free_port()
        argv = [node_bin("prism"), "mock", "-h", "127.0.0.1", "-p", str(port), str(UPSTREAM_DOC)]
        with Server(self.name, argv, port, log=run_dir / "prism.log",
                    ready_path="/open/v5/channel") as s:
            yield Running(s.url, s.pid, [PATCH, PATCH_TYPED, GET, PUT, PUT_TYPED], ids, "bench", "bench",
                          commands=["prism mock -h 127.0.0.1 -p PORT channel-open-api-v5.swagger.json"])


class JsonServer(Target):
    kind = "peer"
    name = "json-server"
    label = "json-server (stateful fake REST)"

    def prepare(self, ctx: Context) -> None:
        d = ctx.cache_dir("json-server")
        src = ctx.cache_dir("baseline") / "ids.txt"
        stamp = f"{ctx.population}:{_digest(src)}"
        if _stamp_ok(d, stamp):
            return
        ids = src.read_text().split()
        with (d / "db.json").open("w") as f:
            f.write('{"users":[')
            for i, uid in enumerate(ids):
                f.write(("," if i else "") + json.dumps({
                    "id": uid, "memberId": f"bench-{i}", "type": "member",
                    "profile": {"name": f"User {i}", "email": f"user{i}@example.com"},
                    "tags": ["seed"], "version": 1,
                }, separators=(",", ":")))
            f.write("]}")
        (d / "routes.json").write_text(json.dumps({"/open/v5/*": "/$1"}))
        shutil.copyfile(src, d / "ids.txt")
        (d / "stamp").write_text(stamp)

    @contextlib.contextmanager
    def start(self, ctx: Context, run_dir: Path) -> Iterator[Running]:
        d = ctx.cache_dir("json-server")
        shutil.copyfile(d / "db.json", run_dir / "db.json")
        port = free_port()
        argv = [node_bin("json-server"), "--host", "127.0.0.1", "--port", str(port), "--routes",
                str(d / "routes.json"), "--quiet", str(run_dir / "db.json")]
        env = {"NODE_OPTIONS": "--max-old-space-size=8192"}
        with Server(self.name, argv, port, env=env, log=run_dir / "json-server.log",
                    ready_path="/open/v5/users/none", timeout=600) as s:
            # json-server has no upsert by memberId: PUT replaces the user found by id.
            yield Running(s.url, s.pid, [PATCH, GET, PUT], d / "ids.txt", put_style="id",
                          commands=["json-server --host 127.0.0.1 --port PORT --routes routes.json"
                                    " --quiet db.json"])


def upstream_patch_example() -> bytes:
    """The PATCH body that upstream documents for `PATCH /open/v5/users/{userId}`."""
    doc = json.loads(UPSTREAM_DOC.read_text())
    text = doc["paths"]["/open/v5/users/{userId}"]["patch"]["description"]
    m = re.search(r"```javascript\s*(\{.*\})\s*```", text, re.S)
    assert m, "upstream's PATCH example not found"
    return json.dumps(json.loads(m.group(1))).encode()


def all_targets(include_ours: bool) -> list[Target]:
    out: list[Target] = [Ceiling(1), Ceiling(2)]
    if include_ours:
        out += [Ours("sqlite", 1), Ours("postgres", 1), Ours("postgres", 2)]
    out += [Baseline(), Prism(), JsonServer()]
    return out


if __name__ == "__main__":
    print(upstream_patch_example().decode(), file=sys.stderr)
