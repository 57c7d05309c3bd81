"""`orderflow advance`: the manual clock moved from the command line, deadlines fired."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask

from app.clock import ManualClock, SystemClock
from tests.conftest import build_app

ORDER = {"customer": {"id": "c-1", "name": "Ada", "address": "1 Main Street"},
         "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_clarify"}}


def test_advance_moves_the_clock_and_fires_what_fell_due(make_app: Callable[..., Flask],
                                                         clock: ManualClock) -> None:
    app = make_app()
    order_id = app.test_client().post("/api/orders", json=ORDER).get_json()["id"]
    start = clock.now()

    result = app.test_cli_runner().invoke(args=["orderflow", "advance", "P8D"])

    assert result.exit_code == 0, result.output
    assert "1 deadline(s) fired" in result.output
    assert (clock.now() - start).days == 8
    order = app.test_client().get(f"/api/orders/{order_id}").get_json()
    assert (order["status"], order["reason"]) == ("cancelled", "price_hold_expired")


def test_advance_refuses_a_bad_duration_and_leaves_the_clock(make_app: Callable[..., Flask],
                                                             clock: ManualClock) -> None:
    runner = make_app().test_cli_runner()
    start = clock.now()
    for bad in ("seven days", "PT0S", "P3000000D"):
        result = runner.invoke(args=["orderflow", "advance", bad])
        assert result.exit_code == 2, result.output
        assert "DURATION" in result.output
    assert clock.now() == start


def test_advance_explains_that_the_system_clock_cannot_move(database_url: str) -> None:
    app = build_app(database_url, clock=SystemClock())  # type: ignore[arg-type]
    try:
        result = app.test_cli_runner().invoke(args=["orderflow", "advance", "P1D"])
    finally:
        app.extensions["orderflow"].close()
    assert result.exit_code == 2
    assert "ORDERFLOW_CLOCK=manual" in result.output
