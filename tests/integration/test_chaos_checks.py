"""The chaos run's invariants can fail: on a shop whose orders all went through they pass, and
a planted lost order, double refund, extra parcel, stock drift, dead letter or delivery still
waiting makes the right one fail."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from flask import Flask
from sqlalchemy import text

from tests.conftest import on_every_database
from tests.shop import HOME

pytestmark = on_every_database
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "chaos.py"


def chaos() -> ModuleType:
    """scripts/chaos.py, loaded once (its dataclasses need it registered)."""
    if "orderflow_chaos" not in sys.modules:
        spec = importlib.util.spec_from_file_location("orderflow_chaos", SCRIPT)
        assert spec and spec.loader
        sys.modules["orderflow_chaos"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["orderflow_chaos"])
    return sys.modules["orderflow_chaos"]


def verdicts(app: Flask, run, stock: dict[str, int]) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    engine = app.extensions["orderflow"].bus.db.engine
    return {name: ok for name, ok, _ in chaos().checks(engine, run, stock)}


@pytest.fixture
def shop(make_app: Callable[..., Flask]):  # type: ignore[no-untyped-def]
    """Three orders placed with keys: delivered, declined, undeliverable (refunded)."""
    app = make_app()
    client = app.test_client()
    placed = {}
    for n, (token, address) in enumerate([("tok_ok", HOME), ("tok_decline", HOME),
                                          ("tok_ok", "1 UNDELIVERABLE Road")]):
        answer = client.post("/api/orders", headers={"Idempotency-Key": f"key-{n}"}, json={
            "customer": {"id": "c-1", "name": "Ada", "address": address},
            "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": token}})
        assert answer.status_code == 202, answer.get_json()
        placed[f"key-{n}"] = answer.get_json()["id"]
    engine = app.extensions["orderflow"].bus.db.engine
    with engine.connect() as db:
        left = {row.sku: row.stock for row in db.execute(text("SELECT sku, stock FROM "
                                                              "inventory_item"))}
    stock = {**left, "sku-1": left["sku-1"] + 1}  # one delivered order took one
    run = chaos().Run(servers=[], orders=3, placed=placed)
    return app, run, stock


def plant(app: Flask, sql: str) -> None:
    with app.extensions["orderflow"].bus.db.engine.begin() as db:
        db.execute(text(sql))


def test_a_clean_shop_passes_every_invariant(shop) -> None:  # type: ignore[no-untyped-def]
    app, run, stock = shop
    assert all(verdicts(app, run, stock).values()), verdicts(app, run, stock)


@pytest.mark.parametrize(("planted", "fails"), [
    ("DELETE FROM orders_order WHERE id = (SELECT min(id) FROM orders_order)", "none lost"),
    ("INSERT INTO sim_provider_refund (idempotency_key, refund_id, amount_cents) SELECT "
     "'refund:' || p.id, 're_extra', p.amount_cents FROM payment_payment p JOIN orders_order o "
     "ON o.id = p.order_id WHERE o.status = 'delivered'", "money once"),
    ("UPDATE sim_carrier_consignment SET accepted = TRUE WHERE NOT accepted",
     "one parcel per delivered order"),
    ("UPDATE inventory_item SET stock = stock - 1 WHERE sku = 'sku-1'", "stock conserved"),
    ("UPDATE bus_delivery SET status = 'parked' WHERE id = (SELECT min(id) FROM bus_delivery)",
     "no dead letters"),
    ("UPDATE bus_delivery SET status = 'pending' WHERE id = (SELECT max(id) FROM bus_delivery)",
     "all settled"),
])
def test_a_planted_violation_fails_its_invariant(shop, planted: str,  # type: ignore[no-untyped-def]
                                                 fails: str) -> None:
    app, run, stock = shop
    plant(app, planted)
    assert verdicts(app, run, stock)[fails] is False


def test_settling_waits_for_what_is_left_to_deliver_not_only_for_the_orders_to_end(  # type: ignore[no-untyped-def]
        shop) -> None:
    """Every order has ended, but one refund is still to be given: not settled yet (the
    check would read the money too early)."""
    app, _, _ = shop
    engine = app.extensions["orderflow"].bus.db.engine
    assert chaos().settle(engine, timeout=5.0) >= 0
    plant(app, "UPDATE bus_delivery SET status = 'pending' WHERE receiver LIKE 'payment.%' AND "
               "id = (SELECT max(id) FROM bus_delivery WHERE receiver LIKE 'payment.%')")
    assert chaos().settle(engine, timeout=0.5) == -1
