"""Calls to another system happen outside every database transaction (ADR 0020): while the
payment provider takes its time, the shop keeps taking orders; nothing is done twice; a
delivery whose call outlives its lease keeps it."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.bus.log import DeliveryRecord
from app.clock import SystemClock
from app.config import STYLES
from app.modules.shipping.models import Shipment
from tests.conftest import build_app, on_every_database, wait_for
from tests.e2e.test_api import order_body

pytestmark = on_every_database
ORDERS = "/api/orders"
HOLD_SECONDS = 30  # the slow provider's answer time, unless the test lets go first
ACCEPT_WITHIN_SECONDS = 0.1
MORE_ORDERS = 5


class HeldProvider:
    """The sandbox provider, except that a charge takes up to 30 s: it answers when the test
    lets go. Counts the charges it was asked for, by idempotency key."""

    def __init__(self, inner: Any, *, hold: bool = True) -> None:
        self.inner = inner
        self.entered, self.let_go = threading.Event(), threading.Event()
        if not hold:
            self.let_go.set()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def charge(self, token: str, amount_cents: int, idempotency_key: str) -> Any:
        with self._lock:
            self.calls[idempotency_key] += 1
        self.entered.set()
        self.let_go.wait(HOLD_SECONDS)
        return self.inner.charge(token, amount_cents, idempotency_key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def hold_charges(app: Flask, *, hold: bool = True) -> HeldProvider:
    bus = app.extensions["orderflow"].bus
    held = bus.adapters.payment_provider = HeldProvider(bus.adapters.payment_provider, hold=hold)
    return held


def status(app: Flask, order_id: str) -> str:
    return app.test_client().get(f"{ORDERS}/{order_id}").get_json()["status"]


def shipments(app: Flask) -> Counter[str]:
    with app.extensions["orderflow"].bus.db.reading() as session:
        return Counter(session.execute(select(Shipment.order_id)).scalars())


def timed_post(app: Flask, style: str) -> tuple[float, Any]:
    started = time.perf_counter()
    response = app.test_client().post(ORDERS, json=order_body(style=style))
    return time.perf_counter() - started, response


@pytest.mark.parametrize("style", STYLES)
def test_orders_are_accepted_at_once_while_the_provider_takes_30_seconds(
        make_app: Any, style: str) -> None:
    app = make_app(dispatch="background", call_timeout=timedelta(seconds=60))
    held = hold_charges(app)
    app.extensions["orderflow"].start()
    try:
        first = app.test_client().post(ORDERS, json=order_body(style=style)).get_json()["id"]
        assert held.entered.wait(20), "the first order's charge never reached the provider"
        accepted = [timed_post(app, style) for _ in range(MORE_ORDERS)]  # the charge is held
        assert not held.let_go.is_set()
    finally:
        held.let_go.set()  # also when the test fails: no call may outlive it
    assert [response.status_code for _, response in accepted] == [202] * MORE_ORDERS
    took = [round(seconds * 1000) for seconds, _ in accepted]
    assert max(took) < ACCEPT_WITHIN_SECONDS * 1000, f"orders took {took} ms"
    print(f"accepted while the charge was held ({style}): {took} ms")

    orders = [first] + [response.get_json()["id"] for _, response in accepted]
    for order in orders:
        wait_for(lambda order=order: status(app, order) == "delivered", timeout=60,
                 what=f"order {order} delivered")
    assert held.calls == Counter({f"charge:{order}": 1 for order in orders})
    assert shipments(app) == Counter(orders)
    assert app.extensions["orderflow"].bus.adapters.carrier.parcels_sent == len(orders)


def test_a_delivery_whose_call_outlives_its_lease_keeps_it(database_url: str) -> None:
    """Lease PT1S, a charge held for several leases: the delivery's lease is renewed while the
    call runs, so another process finds nothing of it to take over; after the answer the
    charge was asked for once and the order completes."""
    settings = {"lease": timedelta(seconds=1), "call_timeout": timedelta(seconds=60)}
    running = build_app(database_url, clock=SystemClock(), dispatch="background", **settings)
    other = build_app(database_url, clock=SystemClock(), seed=False, **settings)
    try:
        held, counted = hold_charges(running), hold_charges(other, hold=False)
        running.extensions["orderflow"].start()
        order = running.test_client().post(ORDERS, json=order_body()).get_json()["id"]
        try:
            assert held.entered.wait(20)
            renewed = lease_of_the_charge(running, order)
            wait_for(lambda: lease_of_the_charge(running, order) - renewed > 2.0, timeout=20,
                     what="the lease renewed for more than two leases")
            other.extensions["orderflow"].bus.dispatcher.run_until_quiet()
            assert not counted.calls, "another process took over the delivery being run"
        finally:
            held.let_go.set()
        wait_for(lambda: status(running, order) == "delivered", timeout=60, what="delivered")
        assert held.calls == Counter({f"charge:{order}": 1}) and not counted.calls
    finally:
        for app in (running, other):
            app.extensions["orderflow"].close()


def lease_of_the_charge(app: Flask, order_id: str) -> float:
    """When the lease of payment's delivery for the order ends (epoch seconds)."""
    with app.extensions["orderflow"].bus.db.reading() as session:
        until = session.execute(
            select(func.max(DeliveryRecord.lease_until))
            .where(DeliveryRecord.flowid == order_id, DeliveryRecord.module == "payment")
        ).scalar()
    return until.timestamp() if until else 0.0


def test_an_adapter_with_its_own_call_timeout_is_cut_off_at_it(make_app: Any) -> None:
    """ORDERFLOW_CALL_TIMEOUT is a minute, the held provider's own ``call_timeout`` a fifth
    of a second: the charge's delivery fails at the adapter's limit (and is retried later)."""
    app = make_app(call_timeout=timedelta(seconds=60))
    held = hold_charges(app)
    held.call_timeout = timedelta(seconds=0.2)
    try:
        took, response = timed_post(app, "orchestration")
        order = response.get_json()["id"]
        (charge,) = [d for m in app.test_client().get(f"{ORDERS}/{order}/timeline").get_json()[
            "messages"] for d in m["deliveries"] if d["module"] == "payment"]
    finally:
        held.let_go.set()
    assert took < 30 and charge["status"] == "failed"
    assert "CallTimedOut: no answer within 0:00:00.200000" in charge["last_error"]
