"""`orderflow init` run by two containers at once on one database: both succeed, the schema
is at head, the catalogue is loaded once, and both print the same admin token."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func
from sqlalchemy.orm import Session
from sqlmodel import select

from app import schema
from app.db import Database, make_engine
from app.modules.inventory import demo
from app.modules.inventory.models import Item

ROOT = Path(__file__).resolve().parents[2]


def head_revision() -> str:
    return ScriptDirectory.from_config(schema.alembic_config("sqlite://")).get_current_head()


def current_revision(url: str) -> str | None:
    engine = make_engine(url)
    with engine.connect() as connection:
        revision = MigrationContext.configure(connection).get_current_revision()
    engine.dispose()
    return revision


def item_count(url: str) -> int:
    db = Database(make_engine(url))
    with db.session() as session:
        count = session.exec(select(func.count()).select_from(Item)).one()
    db.dispose()
    return count


def start_init(url: str, data_dir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "ORDERFLOW_DATABASE_URL": url, "ORDERFLOW_DATA_DIR": str(data_dir)}
    env.pop("ORDERFLOW_ADMIN_TOKEN", None)
    return subprocess.Popen([sys.executable, "-m", "app", "init"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_inits_at_once_on_postgresql_both_succeed(database_url: str,
                                                      tmp_path: Path) -> None:
    runs = [start_init(database_url, tmp_path) for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    assert current_revision(database_url) == head_revision()
    assert item_count(database_url) == len(demo.DEMO_CATALOGUE)
    tokens = {line.rsplit(": ", 1)[1] for output in outputs for line in output.splitlines()
              if line.startswith("admin token (stored in")}
    assert len(tokens) == 1, outputs


@pytest.mark.postgres  # on SQLite a writing session holds the write lock from its first read
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_catalogue_load_that_loses_the_race_adds_nothing_and_fails_nothing(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    schema.upgrade(database_url)
    db = Database(make_engine(database_url))
    now = datetime.now(UTC)
    real_load = demo.load_demo_catalogue

    def load_while_another_init_commits(session: Session, at: datetime) -> int:
        added = real_load(session, at)  # saw an empty catalogue ...
        with db.session() as other:  # ... and another init commits the same skus first
            real_load(other, at)
            other.commit()
        return added

    monkeypatch.setattr(demo, "load_demo_catalogue", load_while_another_init_commits)
    try:
        assert demo.ensure_demo_catalogue(db, now) == 0
    finally:
        db.dispose()
    assert item_count(database_url) == len(demo.DEMO_CATALOGUE)
