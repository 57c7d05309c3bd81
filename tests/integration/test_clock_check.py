"""Time that cannot go backwards unnoticed: a shop whose message log was written by a manual
clock moved weeks ahead does not start on the system clock (nor does `orderflow init`); it says
what to do, and `orderflow clock shift` brings every recorded time back, after which it starts
and its deadlines keep the spans they had."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from alembic import command
from flask import Flask
from sqlalchemy import select

from app.bus.log import DeadlineRecord
from app.bus.time_check import ClockBehind, readable
from app.clock import Clock, ManualClock, SystemClock, as_utc
from app.http.formats import span
from app.schema import alembic_config
from tests.conftest import ADMIN_HEADERS, build_app, on_every_database
from tests.shop import HOME

pytestmark = on_every_database
AHEAD = timedelta(days=30)
ORDER = {"customer": {"id": "c-1", "name": "Ada", "address": HOME},
         "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_clarify"}}


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Apps on this test's database, each on the clock it is given."""
    apps: list[Flask] = []

    def factory(*, clock: Clock, seed: bool = True) -> Flask:
        apps.append(build_app(database_url, clock=clock, seed=seed))  # type: ignore[arg-type]
        return apps[-1]

    yield factory
    for app in apps:
        app.extensions["orderflow"].close()


def workshop(make_app: Callable[..., Flask], ahead: timedelta = AHEAD) -> str:
    """An order placed while the clock ran ``ahead`` of the system clock: it waits for the
    call centre, with its price hold due a week later."""
    app = make_app(clock=ManualClock(SystemClock().now() + ahead))
    return app.test_client().post("/api/orders", json=ORDER).get_json()["id"]


def on_the_system_clock(make_app: Callable[..., Flask]) -> Flask:
    app = make_app(clock=SystemClock(), seed=False)
    url = app.extensions["orderflow"].bus.db.engine.url.render_as_string(hide_password=False)
    command.stamp(alembic_config(url), "head", purge=True)  # the schema came from the models
    return app


def price_hold_due(app: Flask) -> timedelta:
    with app.extensions["orderflow"].bus.db.reading() as session:
        due = session.execute(select(DeadlineRecord.due_at)
                              .where(DeadlineRecord.status == "pending")).scalars().one()
    return as_utc(due) - SystemClock().now()


def test_a_log_from_the_future_stops_the_start_saying_what_to_do(
        make_app: Callable[..., Flask]) -> None:
    workshop(make_app)
    app = on_the_system_clock(make_app)

    with pytest.raises(ClockBehind) as refused:
        app.extensions["orderflow"].start()
    init = app.test_cli_runner().invoke(args=["orderflow", "init"])

    assert "P30D ahead of the system clock" in str(refused.value)
    assert "orderflow clock shift" in str(refused.value) and "\n" not in str(refused.value)
    assert init.exit_code == 1 and "orderflow clock shift" in init.output


def test_a_log_a_little_ahead_is_within_the_tolerance(make_app: Callable[..., Flask]) -> None:
    workshop(make_app, ahead=timedelta(minutes=2))
    app = on_the_system_clock(make_app)

    app.extensions["orderflow"].start()  # the default tolerance is PT5M

    assert app.test_client().get("/readyz").status_code in (200, 503)


def test_clock_shift_brings_the_log_back_and_keeps_the_deadlines_spans(
        make_app: Callable[..., Flask]) -> None:
    order_id = workshop(make_app)
    app = on_the_system_clock(make_app)
    runner = app.test_cli_runner()
    before = runner.invoke(args=["orderflow", "clock", "status"])

    shifted = runner.invoke(args=["orderflow", "clock", "shift", "--yes"])

    assert "P30D ahead of the clock" in before.output
    assert shifted.exit_code == 0, shifted.output
    assert "bus_message:" in shifted.output and "orders_order:" in shifted.output
    app.extensions["orderflow"].start()
    assert timedelta(days=6, hours=23) < price_hold_due(app) <= timedelta(days=7)
    order = app.test_client().get(f"/api/orders/{order_id}").get_json()
    assert order["status"] == "payment_clarification"
    again = runner.invoke(args=["orderflow", "clock", "shift", "--yes"])
    assert "nothing to shift" in again.output


def test_an_order_whose_messages_come_from_the_future_is_flagged_stuck(
        make_app: Callable[..., Flask]) -> None:
    order_id = workshop(make_app)
    app = on_the_system_clock(make_app)  # not started: the stuck check reads what is there
    client = app.test_client()

    order = client.get(f"/api/orders/{order_id}").get_json()
    listing = client.get("/api/orders?stuck=true", headers=ADMIN_HEADERS).get_json()

    assert order["stuck"] is not None
    assert " d 23 h in the future: the clock went back" in order["stuck"]["why"]
    assert [item["id"] for item in listing["items"]] == [order_id]


def test_an_age_from_the_future_is_never_shown_as_nothing(database_url: str) -> None:
    assert span(timedelta(days=-30)) == "30 d in the future"
    assert span(timedelta(seconds=-0.5)) == "0 s"
    assert span(timedelta(hours=2, minutes=5)) == "2 h 5 min"


def test_the_gap_reads_to_the_minute_once_it_is_an_hour(database_url: str) -> None:
    assert readable(timedelta(days=29, hours=23, minutes=59, seconds=58)) == "P30D"
    assert readable(timedelta(minutes=7, seconds=3)) == "PT7M3S"
