"""One writer thread per process that commits queued writes in batches (group commit).

Each write is a function run on the writer's connection inside a savepoint, so a failing request
rolls back alone; a batch shares one `BEGIN IMMEDIATE ... COMMIT` and so one fsync. An answer is
sent only after its batch has committed, so a 200 survives a kill -9. `BEGIN IMMEDIATE` also takes
SQLite's file lock, which serialises writers across processes on the same database.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
Write = Callable[[sqlite3.Connection], Any]
_Job = tuple[Write, asyncio.Future[Any], asyncio.AbstractEventLoop]

MAX_BATCH = 256


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the awaiting request was cancelled
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class Writer:
    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._jobs.put(None)
        self._thread.join()

    async def run(self, write: Callable[[sqlite3.Connection], T]) -> T:
        """Runs `write` in the next batch and returns its result once the batch has committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put((write, future, loop))
        return await future

    def _run(self) -> None:
        conn = self._connect()
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                batch = [job]
                while len(batch) < MAX_BATCH:
                    try:
                        more = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._jobs.put(None)  # finish this batch, then stop
                        break
                    batch.append(more)
                self._commit(conn, batch)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for write, _, _ in batch:
                conn.execute("SAVEPOINT request")
                try:
                    outcomes.append((True, write(conn)))
                except Exception as error:
                    conn.execute("ROLLBACK TO request")
                    outcomes.append((False, error))
                conn.execute("RELEASE request")
            conn.execute("COMMIT")
        except Exception as error:  # the batch did not commit: every request in it fails
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(False, error)] * len(batch)
        for (_, future, loop), (ok, value) in zip(batch, outcomes, strict=True):
            loop.call_soon_threadsafe(_settle, future, ok, value)
