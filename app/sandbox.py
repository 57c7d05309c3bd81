"""What the simulated outside systems (the payment provider, the carrier) remember: their
answers by idempotency key, and how often each key was tried. A real provider keeps that on
its side, so it survives our restarts; the sandbox keeps it in a database of its own (never
inside our transactions: a receiver may hold our write lock while it calls out), by default a
SQLite file beside the shop's (``<shop>-sandbox.db``, or ``sandbox.db`` in the data folder when
the shop is on PostgreSQL). Each call is one short transaction of its own."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool

BUSY_TIMEOUT_SECONDS = 30  # other processes' sandbox calls are short; wait for them
metadata = MetaData()
calls = Table("sandbox_call", metadata,
              Column("system", String(40), primary_key=True),  # e.g. bank.charge, carrier.ship
              Column("key", String(255), primary_key=True),  # the caller's idempotency key
              Column("attempts", Integer, nullable=False),
              Column("answer", Text))  # JSON, once the system has answered


def sandbox_url(shop_url: str, data_dir: str) -> str:
    if shop_url.startswith("sqlite") and ":memory:" not in shop_url and shop_url != "sqlite://":
        shop_file = Path(shop_url.split("///", 1)[1])
        return f"sqlite:///{shop_file.with_name(f'{shop_file.stem}-sandbox.db')}"
    if shop_url.startswith("sqlite"):
        return "sqlite://"
    return f"sqlite:///{Path(data_dir) / 'sandbox.db'}"


class Ledger:
    def __init__(self, url: str) -> None:
        self.engine = _engine(url)  # connects at the first call, not before
        self._made = False
        self._lock = threading.Lock()

    def _table(self) -> None:
        with self._lock:
            if self._made:
                return
            try:
                metadata.create_all(self.engine)
            except OperationalError:  # another process made it between look and create
                metadata.create_all(self.engine)
            self._made = True

    def attempt(self, system: str, key: str) -> tuple[int, dict[str, Any] | None]:
        """The first answer given under ``key``, if there is one; otherwise count this try
        and return how many there were."""
        self._table()
        with self.engine.begin() as connection:
            row = connection.execute(select(calls.c.attempts, calls.c.answer).where(
                calls.c.system == system, calls.c.key == key)).first()
            if row is not None and row.answer is not None:
                return row.attempts, json.loads(row.answer)
            attempts = 1 if row is None else row.attempts + 1
            if row is None:
                connection.execute(insert(calls).values(system=system, key=key, attempts=1))
            else:
                connection.execute(update(calls).where(calls.c.system == system,
                                                       calls.c.key == key)
                                   .values(attempts=attempts))
        return attempts, None

    def answer(self, system: str, key: str, answer: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Keep the answer unless one was given already; returns the kept one and whether it
        is this one."""
        self._table()
        with self.engine.begin() as connection:
            kept = connection.execute(select(calls.c.answer).where(
                calls.c.system == system, calls.c.key == key)).scalar()
            if kept is not None:
                return json.loads(kept), False
            text = json.dumps(answer)
            changed = connection.execute(update(calls).where(
                calls.c.system == system, calls.c.key == key).values(answer=text)).rowcount
            if not changed:
                connection.execute(insert(calls).values(system=system, key=key, attempts=1,
                                                        answer=text))
        return answer, True

    def known(self, system: str, key: str) -> dict[str, Any] | None:
        self._table()
        with self.engine.connect() as connection:
            kept = connection.execute(select(calls.c.answer).where(
                calls.c.system == system, calls.c.key == key)).scalar()
        return None if kept is None else json.loads(kept)

    def close(self) -> None:
        self.engine.dispose()


def _engine(url: str) -> Engine:
    if url == "sqlite://":  # one in-memory database for every thread of this process
        engine = create_engine(url, poolclass=StaticPool,
                               connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS,
                                                  "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")  # as the shop's (ADR 0003)

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:  # type: ignore[no-untyped-def]
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # one writer at a time, no upgrade race

    return engine
