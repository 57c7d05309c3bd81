"""Applying the one Alembic history in ``migrations/``. The app never calls ``create_all``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parent.parent
# The key of the PostgreSQL advisory lock that migrating processes take in turn (any fixed
# 64-bit number no other code uses; these are the bytes of "orderflo").
MIGRATION_LOCK_KEY = int.from_bytes(b"orderflo", "big")


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    return config


def upgrade(url: str) -> None:
    """Migrate to head. On PostgreSQL one process at a time: two containers starting at once
    on one database take turns, and the second finds the schema at head already."""
    with migration_lock(url):
        command.upgrade(alembic_config(url), "head")


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """A session-level advisory lock held on a connection of its own (Alembic migrates on
    another), released when the block ends or, if the process dies, when that connection
    closes. Nothing to take on SQLite, which is one container's own file."""
    if not url.startswith("postgresql"):
        yield
        return
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()  # the lock outlives the transaction; no transaction stays open
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": MIGRATION_LOCK_KEY})
                connection.commit()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    """The newest migration in ``migrations/``: what ``upgrade`` brings a database to."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()
