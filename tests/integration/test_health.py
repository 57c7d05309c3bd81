"""Liveness and readiness: /healthz answers without the database; /readyz says 503, with a
reason, when the database, the migrations, the dispatcher's threads, the ticker or the backlog
would keep this process from doing its work."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from flask import Flask
from sqlalchemy.exc import OperationalError

from app import create_app
from app.clock import ManualClock
from app.config import Settings
from app.schema import alembic_config, head_revision
from app.telemetry.pulse import Pulse, judge
from tests.conftest import ADMIN, on_every_database, wait_for
from tests.shop import HOME


class ThreadKilled(BaseException):
    """Not an Exception: the dispatcher's loop lets it through, and its thread dies."""


def migrated(app: Flask, revision: str = "head") -> Flask:
    """The tests' schema comes from the models; say which migration it stands for."""
    url = app.extensions["orderflow"].bus.db.engine.url.render_as_string(hide_password=False)
    command.stamp(alembic_config(url), revision, purge=True)
    return app


def readiness(app: Flask) -> tuple[int, dict[str, Any]]:
    response = app.test_client().get("/readyz")
    return response.status_code, response.get_json()


def place(app: Flask) -> str:
    response = app.test_client().post("/api/orders", json={
        "customer": {"id": "c-1", "name": "Ada Lovelace", "address": HOME},
        "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_ok"}})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"]


@on_every_database
@pytest.mark.parametrize("dispatch", ["inline", "background"])
def test_a_running_app_is_ready(make_app: Callable[..., Flask], dispatch: str) -> None:
    app = migrated(make_app(dispatch=dispatch))
    app.extensions["orderflow"].start()

    status, body = readiness(app)

    assert (status, body["status"]) == (200, "ready"), body
    assert "reasons" not in body
    checks = body["checks"]
    assert set(checks) == {"database", "migrations", "backlog", "dispatcher", "ticker"}
    assert all(check["ok"] for check in checks.values())
    assert checks["migrations"]["current"] == checks["migrations"]["head"] == head_revision()
    assert checks["dispatcher"]["mode"] == dispatch
    if dispatch == "inline":
        assert checks["dispatcher"]["threads"] == [] and "inline" in checks["dispatcher"]["note"]
    else:
        assert [(t["name"], t["running"]) for t in checks["dispatcher"]["threads"]] == [
            ("orderflow-dispatch-0", True)]


@on_every_database
def test_liveness_does_not_need_the_database(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    app.extensions["orderflow"].bus.db.dispose()

    response = app.test_client().get("/healthz")

    assert response.status_code == 200 and response.get_json()["status"] == "ok"


@on_every_database
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_not_ready_when_the_dispatcher_thread_died(make_app: Callable[..., Flask]) -> None:
    app = migrated(make_app(dispatch="background"))
    runtime = app.extensions["orderflow"]
    runtime.start()
    dispatcher = runtime.bus.dispatcher
    (thread, _), = dispatcher.threads().values()

    def killed(*args: Any, **kwargs: Any) -> int:
        raise ThreadKilled("the dispatcher's loop is gone")

    dispatcher.run_once = killed  # its next pass raises what the loop does not catch
    dispatcher.tick()  # wake it up
    wait_for(lambda: not thread.is_alive(), what="the dispatcher thread dies")

    status, body = readiness(app)

    assert (status, body["code"]) == (503, "not_ready")
    assert body["reasons"] == ["dispatcher: thread orderflow-dispatch-0 is not running"]
    assert body["checks"]["dispatcher"]["ok"] is False
    assert body["checks"]["dispatcher"]["threads"][0]["running"] is False


@on_every_database
def test_not_ready_when_the_dispatcher_was_stopped(make_app: Callable[..., Flask]) -> None:
    app = migrated(make_app(dispatch="background", dispatch_threads=2))
    runtime = app.extensions["orderflow"]
    runtime.start()
    runtime.bus.dispatcher.stop()

    status, body = readiness(app)

    assert status == 503
    assert body["reasons"] == ["dispatcher: thread orderflow-dispatch-0 is not running",
                               "dispatcher: thread orderflow-dispatch-1 is not running"]


@on_every_database
def test_not_ready_when_the_ticker_is_not_running(make_app: Callable[..., Flask]) -> None:
    app = migrated(make_app())

    status, body = readiness(app)

    assert status == 503
    assert body["reasons"] == ["ticker: the scheduler is not running"]


@on_every_database
def test_not_ready_when_a_delivery_has_waited_too_long(make_app: Callable[..., Flask],
                                                       clock: ManualClock) -> None:
    """Nobody delivers: the background dispatcher of this app was never started."""
    app = migrated(make_app(dispatch="background"))  # the default limit: PT5M
    place(app)
    status, body = readiness(app)
    assert body["checks"]["backlog"] == {"ok": True, "oldest_pending_age_seconds": 0.0,
                                         "max_age_seconds": 300.0}

    clock.advance("PT5M1S")
    status, body = readiness(app)

    assert status == 503
    assert body["checks"]["backlog"] == {"ok": False, "oldest_pending_age_seconds": 301.0,
                                         "max_age_seconds": 300.0}
    assert ("backlog: the oldest pending delivery has waited 301 s, more than "
            "ORDERFLOW_READY_MAX_BACKLOG_AGE (300 s)") in body["reasons"]


@on_every_database
def test_parked_deliveries_do_not_count_as_backlog(make_app: Callable[..., Flask],
                                                   clock: ManualClock) -> None:
    """A dead letter waits for an operator, not for the dispatcher (the dead-letter gauge
    reports it); neither do the flow's later messages queued behind it."""
    app = migrated(make_app(retry_max_attempts=1))
    app.extensions["orderflow"].start()
    response = app.test_client().post("/api/orders", json={
        "customer": {"id": "c-1", "name": "Ada Lovelace", "address": HOME},
        "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_outage"}})
    assert response.status_code == 202
    runtime = app.extensions["orderflow"]
    runtime.bus.settle()

    clock.advance("PT1H")
    status, body = readiness(app)

    assert body["checks"]["backlog"]["oldest_pending_age_seconds"] == 0.0, body
    assert status == 200, body


@on_every_database
def test_not_ready_when_migrations_are_behind(make_app: Callable[..., Flask]) -> None:
    app = migrated(make_app(), "0003")
    app.extensions["orderflow"].start()

    status, body = readiness(app)

    assert status == 503
    head = head_revision()
    assert body["checks"]["migrations"] == {"ok": False, "current": "0003", "head": head}
    assert body["reasons"] == [f"migrations: the database is at 0003, this code expects {head} "
                               "(run 'orderflow init')"]


def app_without_its_database(tmp_path: Path, where: str) -> Flask:
    url = (f"sqlite:///{tmp_path / 'no such folder' / 'shop.db'}" if where == "sqlite"
           else "postgresql+psycopg://orderflow@127.0.0.1:1/orderflow")  # nobody listens
    return create_app(Settings(database_url=url, dispatch="inline", admin_token=ADMIN),
                      clock=ManualClock())


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_not_ready_when_the_database_does_not_answer(tmp_path: Path, where: str) -> None:
    app = app_without_its_database(tmp_path, where)
    try:
        status, body = readiness(app)
        assert app.test_client().get("/healthz").status_code == 200
    finally:
        with contextlib.suppress(OperationalError):  # it hands back its claims on the way out
            app.extensions["orderflow"].close()

    assert (status, body["code"]) == (503, "not_ready")
    assert body["reasons"][0].startswith("database: OperationalError: ")
    assert body["checks"]["database"]["ok"] is False
    assert body["checks"]["migrations"] == body["checks"]["backlog"] == {
        "ok": False, "skipped": "the database does not answer"}


def test_a_loop_is_judged_by_its_last_pass_or_by_how_long_its_work_runs() -> None:
    now = time.monotonic()
    idle_recently, idle_long = Pulse(beat=now - 12), Pulse(beat=now - 14)
    long_delivery = Pulse(beat=now - 25, busy_since=now - 25)
    stuck = Pulse(beat=now - 31, busy_since=now - 31)

    assert judge(idle_recently, now, period=1, busy_limit=30) is None
    assert judge(idle_long, now, period=1, busy_limit=30) == \
        "has not begun a pass for 14 s (limit 13 s)"
    assert judge(long_delivery, now, period=1, busy_limit=30) is None
    assert judge(stuck, now, period=1, busy_limit=30, work="one delivery") == \
        "has been in one delivery for 31 s (limit 30 s)"


def every_get_path(app: Flask) -> list[str]:
    return [re.sub(r"<[^>]+>", "x", rule.rule) for rule in app.url_map.iter_rules()
            if "GET" in (rule.methods or ()) and rule.endpoint != "static"]


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_with_the_database_down_no_route_answers_500(tmp_path: Path, where: str) -> None:
    app = app_without_its_database(tmp_path, where)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {ADMIN}"}
    try:
        answers = {path: client.get(path, headers=headers) for path in every_get_path(app)}
        placed = client.post("/api/orders", json={
            "customer": {"id": "c-1", "name": "Ada", "address": HOME},
            "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_ok"}})
    finally:
        with contextlib.suppress(OperationalError):
            app.extensions["orderflow"].close()

    statuses = {path: answer.status_code for path, answer in answers.items()}
    assert all(status < 500 or status == 503 for status in statuses.values()), statuses
    assert statuses["/api/orders"] == statuses["/api/orders/x"] == 503
    assert placed.status_code == 503, placed.get_data(as_text=True)
    assert placed.get_json()["code"] == "database_unavailable"
    assert placed.headers["Retry-After"] == "5"
