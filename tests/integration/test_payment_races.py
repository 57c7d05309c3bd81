"""The call centre, the operator and payment's receivers may change one payment or invoice at
the same moment. On PostgreSQL (READ COMMITTED) each of them locks the row it decides on, so
they take turns: the second sees what the first did. Each test holds the first party inside
its transaction until the second is seen waiting for the row lock, then lets it finish."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text
from werkzeug.test import TestResponse

from app.bus import MessageBus, UnitOfWork, calls_outside
from app.clock import ManualClock
from app.modules.payment import service as payment
from tests.conftest import ADMIN_HEADERS, wait_for
from tests.shop import Shop

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)


@pytest.fixture
def shop(app: Flask, clock: ManualClock) -> Shop:
    return Shop(app, clock)


def someone_waits_for_a_row_lock(bus: MessageBus) -> bool:
    with bus.db.reading() as session:
        return bool(session.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")).scalar())


FIRST = "first-party"


def hold_inside(monkeypatch: pytest.MonkeyPatch, name: str) -> tuple[threading.Event,
                                                                        threading.Event]:
    """Make ``payment.<name>`` pause after it ran, in the first party's thread only, until
    released: the first party then holds its row locks with its transaction still open."""
    inside, release = threading.Event(), threading.Event()
    real = getattr(payment, name)

    def paused(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if threading.current_thread().name == FIRST:
            inside.set()
            release.wait(20)
        return result
    monkeypatch.setattr(payment, name, paused)
    return inside, release


def in_thread(work: Callable[[], Any], name: str = "second-party"
              ) -> tuple[threading.Thread, list[Any]]:
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(work()), name=name)
    thread.start()
    return thread, results


def test_an_approval_waits_for_a_cancellation_and_then_is_refused(
        shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    order = shop.place(style="orchestration", token="tok_clarify")
    (task,) = shop.tasks(order)
    bus = shop.runtime.bus
    inside, release = hold_inside(monkeypatch, "_stop_collecting")

    @calls_outside  # letting the held charge go is a call to the provider (ADR 0020)
    def cancelling(uow: UnitOfWork) -> None:
        with uow:
            payment.cancel(uow, order_id=order, reason="price_hold_expired")
            uow.commit()

    def cancel() -> None:
        cancelling(bus.unit_of_work(style="orchestration", module="payment"))

    canceller, _ = in_thread(cancel, FIRST)
    assert inside.wait(20)
    approver, answers = in_thread(lambda: shop.client.post(
        f"/api/tasks/{task['id']}/complete", json={"outcome": "approved"},
        headers=ADMIN_HEADERS))
    wait_for(lambda: someone_waits_for_a_row_lock(bus), what="the approval waits for the row")
    release.set()
    canceller.join(20)
    approver.join(20)

    answer: TestResponse = answers[0]
    assert answer.status_code == 409, answer.get_json()
    assert shop.charged_cents == shop.refunded_cents == 0
    assert shop.tasks(order, "cancelled") and not shop.tasks(order, "approved")


def test_dunning_and_paying_one_invoice_take_turns(shop: Shop,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    order = shop.place(style="orchestration", vip=True)
    (invoice,) = shop.invoices(order)
    bus = shop.runtime.bus
    inside, release = hold_inside(monkeypatch, "_locked")

    def dun() -> None:
        with bus.unit_of_work(style="orchestration", module="payment") as uow:
            payment.dun_if_unpaid(uow, invoice_id=invoice["id"])
            uow.commit()

    dunner, _ = in_thread(dun, FIRST)
    assert inside.wait(20)
    payer, answers = in_thread(lambda: shop.client.post(
        f"/api/invoices/{invoice['id']}/pay", headers=ADMIN_HEADERS))
    wait_for(lambda: someone_waits_for_a_row_lock(bus), what="the payment waits for the row")
    release.set()
    dunner.join(20)
    payer.join(20)

    assert answers[0].status_code == 200  # overdue, then paid: both happened, in turn
    assert shop.invoices(order)[0]["status"] == "paid"
    types = shop.timeline_types(order)
    assert types.count("InvoiceOverdue") == 1 and types.count("InvoicePaid") == 1
    second = shop.client.post(f"/api/invoices/{invoice['id']}/pay", headers=ADMIN_HEADERS)
    assert second.status_code == 409

