"""The database engine. Writes on SQLite take the write lock up front (``BEGIN IMMEDIATE``) so
that two transactions never deadlock on a lock upgrade; reads use a plain ``BEGIN``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import sessionmaker
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 10_000
POSTGRES_CONNECT_TIMEOUT_SECONDS = 5  # unless the URL says ?connect_timeout=


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    # a server that does not answer must not hold a request (or /readyz) for the TCP timeout
    timeout = {} if "connect_timeout" in make_url(url).query else {
        "connect_timeout": POSTGRES_CONNECT_TIMEOUT_SECONDS}
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10,
                         connect_args=timeout)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"check_same_thread": False,
                                              "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:  # type: ignore[no-untyped-def]
        reading = connection.get_execution_options().get("readonly", False)
        connection.exec_driver_sql("BEGIN" if reading else "BEGIN IMMEDIATE")

    return engine


class Database:
    """Owns the engine and hands out sessions: one for writing, one for reading."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._writer = sessionmaker(engine, class_=Session, expire_on_commit=False)
        self._reader = sessionmaker(engine.execution_options(readonly=True), class_=Session,
                                    expire_on_commit=False)

    def session(self) -> Session:
        return self._writer()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        session = self._reader()
        try:
            yield session
        finally:
            session.close()  # ends the read transaction; loaded objects stay readable

    def dispose(self) -> None:
        self.engine.dispose()
