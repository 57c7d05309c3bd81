"""Shared fixtures: a real SQLite file per test, the manual clock, inline dispatch."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlmodel import SQLModel

from app import create_app
from app.clock import ManualClock
from app.config import STYLES, Settings
from app.modules.inventory.demo import load_demo_catalogue
from app.modules.registry import load_models

ADMIN = "test-admin-token"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN}"}

__all__ = ["ADMIN", "ADMIN_HEADERS", "STYLES", "on_every_database", "wait_for"]


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, every: float = 0.02,
             what: str = "condition") -> Any:
    """Poll until ``condition()`` is truthy; fail after ``timeout`` seconds. Never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout}s")
        time.sleep(every)


def build_app(url: str, *, clock: ManualClock | None = None, seed: bool = True,
              tracer_provider: Any = None, **settings: Any) -> Flask:
    settings.setdefault("dispatch", "inline")
    settings.setdefault("admin_token", ADMIN)
    # the suite places orders and calls the admin API faster than any client would, from one
    # address; the limits' own tests (tests/e2e/test_rate_limits.py) set them
    settings.setdefault("rate_limit_intake", "off")
    settings.setdefault("rate_limit_admin", "off")
    app = create_app(Settings(database_url=url, **settings), clock=clock or ManualClock(),
                     tracer_provider=tracer_provider)
    runtime = app.extensions["orderflow"]
    load_models()
    SQLModel.metadata.create_all(runtime.bus.db.engine)
    if seed:
        with runtime.bus.db.session() as session:
            load_demo_catalogue(session, runtime.bus.clock.now())
            session.commit()
    return app


POSTGRES_URL = os.environ.get("ORDERFLOW_TEST_POSTGRES_URL")
# Modules that must hold on both databases say: pytestmark = on_every_database
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
on_every_database = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A real SQLite file by default; a freshly emptied PostgreSQL database when asked for."""
    if getattr(request, "param", "sqlite") == "sqlite":
        yield f"sqlite:///{tmp_path / 'shop.db'}"
        return
    if not POSTGRES_URL:
        message = "no PostgreSQL: run through scripts/with-postgres (make test does)"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must test PostgreSQL")
        pytest.skip(message)
    reset_postgres(POSTGRES_URL)
    yield POSTGRES_URL


def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make_app(database_url: str, clock: ManualClock) -> Iterator[Callable[..., Flask]]:
    """Build apps on this test's database; each is closed at the end (a 'restart' is two)."""
    apps: list[Flask] = []

    def factory(**settings: Any) -> Flask:
        app = build_app(database_url, clock=clock, **settings)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["orderflow"].close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask):  # type: ignore[no-untyped-def]
    return app.test_client()
