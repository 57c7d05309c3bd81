"""Off the happy path, in every style and both flow shapes: a payment the call centre must
clarify, the 7-day price hold, retries and dead letters, compensation, VIP customers who pay
later by invoice, and the parallel join. Every scenario ends the same way in every style; each
checks the final status and reason, stock, money taken and given back, and the compensating
messages on the timeline (traced to their cause by ``causationid``)."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import FLOWS, STYLES
from app.modules.payment.provider import TransientProviderError
from tests.conftest import ADMIN_HEADERS as ADMIN
from tests.conftest import on_every_database
from tests.shop import Shop, ancestors, first

pytestmark = on_every_database

SKU1, SKU2 = 2490, 5900  # prices in cents, from the demo catalogue
EVERY = pytest.mark.parametrize("style", STYLES)
EVERY_FLOW = pytest.mark.parametrize("flow", FLOWS)
MAX_AUTOMATIC_ATTEMPTS = 5  # ORDERFLOW_RETRY_MAX_ATTEMPTS' default


def ended(shop: Shop, order_id: str) -> tuple[str, str | None]:
    order = shop.order(order_id)
    return order["status"], order["reason"]


def money(shop: Shop) -> tuple[int, int]:
    return shop.charged_cents, shop.refunded_cents


def taken(shop: Shop, sku: str) -> int:
    return shop.initial[sku] - shop.stock(sku)


def nothing_left_to_deliver(shop: Shop, order_id: str) -> bool:
    return all(d["status"] == "done" for m in shop.timeline(order_id) for d in m["deliveries"])


def caused_by(shop: Shop, order_id: str, compensation: str, cause: str) -> bool:
    timeline = shop.timeline(order_id)
    return cause in ancestors(timeline, first(timeline, compensation))


# --- a payment that needs a person ------------------------------------------------------------
@EVERY
@EVERY_FLOW
def test_clarification_approved_collects_the_money_and_delivers(shop: Shop, style: str,
                                                                flow: str) -> None:
    order = shop.place(style=style, flow=flow, token="tok_clarify")
    assert ended(shop, order) == ("payment_clarification", None)
    assert shop.tasks(order)[0]["amount"] == "24.90"
    assert money(shop) == (0, 0)

    shop.pass_time("P2D")  # the call centre takes its time; nothing moves meanwhile
    assert ended(shop, order) == ("payment_clarification", None)
    task = shop.complete_task(order, "approved")

    assert task["status"] == "approved"
    assert ended(shop, order) == ("delivered", None)
    assert taken(shop, "sku-1") == 1
    assert money(shop) == (SKU1, 0)
    assert shop.parcels_sent == 1
    assert shop.tasks(order) == []
    assert nothing_left_to_deliver(shop, order)


@EVERY
@EVERY_FLOW
def test_clarification_declined_cancels_and_puts_goods_back(shop: Shop, style: str,
                                                            flow: str) -> None:
    order = shop.place(style=style, flow=flow, token="tok_clarify", items=(("sku-2", 2),))
    shop.complete_task(order, "declined")

    assert ended(shop, order) == ("cancelled", "payment_declined")
    assert taken(shop, "sku-2") == 0
    assert money(shop) == (0, 0)
    assert shop.parcels_sent == 0
    types = shop.timeline_types(order)
    assert "PaymentFailed" in types and "GoodsShipped" not in types
    if flow == "parallel":  # the goods were fetched while the payment waited: they go back
        assert caused_by(shop, order, "GoodsReleased", "PaymentFailed")
    else:
        assert "GoodsFetched" not in types
    assert nothing_left_to_deliver(shop, order)


# --- the price hold ---------------------------------------------------------------------------
@EVERY
@EVERY_FLOW
def test_price_hold_expires_while_waiting_for_clarification(shop: Shop, style: str,
                                                            flow: str) -> None:
    order = shop.place(style=style, flow=flow, token="tok_clarify", items=(("sku-2", 1),))
    shop.advance_clock("P6DT23H")
    assert ended(shop, order) == ("payment_clarification", None)

    fired = shop.advance_clock("PT2H")

    assert fired["deadlines_fired"] == 1
    assert ended(shop, order) == ("cancelled", "price_hold_expired")
    assert shop.tasks(order) == [] and shop.tasks(order, "cancelled")
    assert taken(shop, "sku-2") == 0
    assert money(shop) == (0, 0)
    # payment decides, in every style: it lets the held charge go and says the payment failed
    assert caused_by(shop, order, "PaymentFailed", "PriceHoldExpired")
    assert caused_by(shop, order, "OrderCancelled", "PriceHoldExpired")
    assert caused_by(shop, order, "PriceHoldExpired", "OrderPlaced")  # set when it was placed
    if flow == "parallel":
        assert caused_by(shop, order, "GoodsReleased", "PriceHoldExpired")
    deadline = shop.order(order)["deadlines"][0]
    assert (deadline["name"], deadline["status"]) == ("price_hold", "fired")
    assert nothing_left_to_deliver(shop, order)


@EVERY
def test_a_paid_order_outlives_its_price_hold(shop: Shop, style: str) -> None:
    order = shop.place(style=style)
    shop.advance_clock("P30D")

    assert ended(shop, order) == ("delivered", None)
    assert [d["status"] for d in shop.order(order)["deadlines"]] == ["cancelled"]
    assert money(shop) == (SKU1, 0)


@EVERY
def test_a_late_approval_after_the_price_hold_is_refused(shop: Shop, style: str) -> None:
    order = shop.place(style=style, token="tok_clarify")
    (task,) = shop.tasks(order)
    shop.advance_clock("P8D")

    response = shop.client.post(f"/api/tasks/{task['id']}/complete",
                                json={"outcome": "approved"}, headers=ADMIN)
    assert response.status_code == 409
    assert ended(shop, order) == ("cancelled", "price_hold_expired")
    assert money(shop) == (0, 0)


@EVERY
def test_an_answer_after_the_price_hold_ended_is_refused_even_before_the_deadline_ran(
        shop: Shop, style: str) -> None:
    order = shop.place(style=style, token="tok_clarify")
    (task,) = shop.tasks(order)
    shop.clock.advance("P7D")  # due now, but the tick has not fired it yet

    response = shop.client.post(f"/api/tasks/{task['id']}/complete",
                                json={"outcome": "approved"}, headers=ADMIN)
    assert (response.status_code, response.get_json()["code"]) == (
        409, "price_hold_expired")
    shop.settle()

    assert ended(shop, order) == ("cancelled", "price_hold_expired")
    assert money(shop) == (0, 0) and shop.parcels_sent == 0


@EVERY
@EVERY_FLOW
def test_a_charge_still_failing_when_the_price_hold_ends_is_never_taken(shop: Shop, style: str,
                                                                        flow: str) -> None:
    order = shop.place(style=style, flow=flow, token="tok_outage", items=(("sku-2", 1),))
    for _ in range(MAX_AUTOMATIC_ATTEMPTS):
        shop.pass_time("PT1H")
    (letter,) = shop.deadletters(order)
    shop.advance_clock("P7D")  # the price hold ends while the charge waits for an operator

    shop.retry(letter["id"])  # the provider is back, but the price no longer holds

    assert ended(shop, order) == ("cancelled", "price_hold_expired")
    assert taken(shop, "sku-2") == 0
    assert money(shop) == (0, 0) and shop.parcels_sent == 0
    assert shop.order(order)["stuck"] is None
    assert nothing_left_to_deliver(shop, order)


@EVERY
def test_a_charge_whose_answer_was_lost_is_given_back_when_the_retry_comes_too_late(
        shop: Shop, style: str, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = shop.runtime.bus.adapters.payment_provider
    charge, calls = provider.charge, []

    def charges_then_times_out_once(*args: Any, **kwargs: Any) -> Any:
        outcome = charge(*args, **kwargs)
        calls.append(outcome)
        if len(calls) == 1:
            raise TransientProviderError("timed out after the card was charged")
        return outcome
    monkeypatch.setattr(provider, "charge", charges_then_times_out_once)
    order = shop.place(style=style, items=(("sku-2", 1),))
    assert money(shop) == (SKU2, 0)  # taken, but the answer never came

    shop.advance_clock("P7D")  # the retry only runs now, with the price hold over

    assert ended(shop, order) == ("cancelled", "price_hold_expired")
    assert money(shop) == (SKU2, SKU2)
    assert caused_by(shop, order, "PaymentRefunded", "OrderPlaced")
    assert taken(shop, "sku-2") == 0 and shop.parcels_sent == 0


# --- retries and dead letters -----------------------------------------------------------------
@EVERY
@EVERY_FLOW
def test_a_transient_failure_is_retried_then_succeeds(shop: Shop, style: str, flow: str) -> None:
    order = shop.place(style=style, flow=flow, token="tok_flaky")
    assert ended(shop, order) == ("placed", None)

    shop.pass_time("PT1S")
    shop.pass_time("PT2S")

    assert ended(shop, order) == ("delivered", None)
    assert taken(shop, "sku-1") == 1
    assert money(shop) == (SKU1, 0)
    payment_delivery = next(d for m in shop.timeline(order) for d in m["deliveries"]
                            if d["module"] == "payment")
    assert payment_delivery["attempts"] == 3


@EVERY
@EVERY_FLOW
def test_retries_exhausted_park_the_delivery_until_an_operator_retries(shop: Shop, style: str,
                                                                       flow: str) -> None:
    order = shop.place(style=style, flow=flow, token="tok_outage")
    for _ in range(MAX_AUTOMATIC_ATTEMPTS):
        shop.pass_time("PT1H")
    stuck = shop.order(order)["stuck"]
    assert stuck is not None and "tok_outage" in stuck["why"]
    (letter,) = shop.deadletters(order)
    assert (letter["module"], letter["attempts"]) == ("payment", MAX_AUTOMATIC_ATTEMPTS)
    assert money(shop) == (0, 0)

    assert shop.retry(letter["id"])["status"] == "done"

    assert ended(shop, order) == ("delivered", None)
    assert shop.order(order)["stuck"] is None and shop.deadletters(order) == []
    assert taken(shop, "sku-1") == 1
    assert money(shop) == (SKU1, 0)
    assert nothing_left_to_deliver(shop, order)


# --- compensation -----------------------------------------------------------------------------
@EVERY
@EVERY_FLOW
def test_out_of_stock_refunds_the_payment(shop: Shop, style: str, flow: str) -> None:
    order = shop.place(style=style, flow=flow, items=(("sku-1", 1), ("sku-none", 1)))

    assert ended(shop, order) == ("cancelled", "out_of_stock")
    assert taken(shop, "sku-1") == 0
    charged, refunded = money(shop)
    assert charged == refunded == SKU1 + 7900
    assert caused_by(shop, order, "PaymentRefunded", "GoodsUnavailable")
    assert shop.parcels_sent == 0
    assert nothing_left_to_deliver(shop, order)


@EVERY
@EVERY_FLOW
def test_undeliverable_releases_the_goods_then_refunds(shop: Shop, style: str,
                                                       flow: str) -> None:
    order = shop.place(style=style, flow=flow, address="9 UNDELIVERABLE Lane",
                       items=(("sku-2", 2),))

    assert ended(shop, order) == ("cancelled", "undeliverable")
    assert taken(shop, "sku-2") == 0
    assert money(shop) == (2 * SKU2, 2 * SKU2)
    types = shop.timeline_types(order)
    assert types.index("GoodsReleased") < types.index("PaymentRefunded")  # reverse order
    for compensation in ("GoodsReleased", "PaymentRefunded"):
        assert caused_by(shop, order, compensation, "ShipmentFailed")
    assert nothing_left_to_deliver(shop, order)


@EVERY
def test_a_declined_payment_in_the_parallel_flow_puts_the_goods_back(shop: Shop,
                                                                     style: str) -> None:
    order = shop.place(style=style, flow="parallel", token="tok_decline", items=(("sku-2", 1),))

    assert ended(shop, order) == ("cancelled", "payment_declined")
    assert taken(shop, "sku-2") == 0
    assert money(shop) == (0, 0)
    assert caused_by(shop, order, "GoodsReleased", "PaymentFailed")
    assert shop.parcels_sent == 0


# --- the parallel join ------------------------------------------------------------------------
@EVERY
def test_the_parallel_flow_fetches_while_paying_and_ships_when_both_are_done(
        shop: Shop, style: str) -> None:
    order = shop.place(style=style, flow="parallel", token="tok_clarify")
    assert shop.order(order)["flow"] == "parallel"
    assert taken(shop, "sku-1") == 1  # reserved while the payment waits for a person
    assert "GoodsShipped" not in shop.timeline_types(order)

    shop.complete_task(order, "approved")

    assert ended(shop, order) == ("delivered", None)
    types = shop.timeline_types(order)
    assert types.index("GoodsFetched") < types.index("PaymentReceived") < types.index(
        "GoodsShipped")
    assert money(shop) == (SKU1, 0) and shop.parcels_sent == 1


# --- VIP customers pay later ------------------------------------------------------------------
@EVERY
@EVERY_FLOW
def test_vip_order_is_delivered_first_and_its_invoice_paid_later(shop: Shop, style: str,
                                                                 flow: str) -> None:
    order = shop.place(style=style, flow=flow, vip=True, token="tok_decline",
                       items=(("sku-2", 1),))  # the card is never used: a VIP pays by invoice

    assert ended(shop, order) == ("delivered", None)
    assert taken(shop, "sku-2") == 1 and shop.parcels_sent == 1
    assert money(shop) == (0, 0)
    (invoice,) = shop.invoices(order)
    assert (invoice["status"], invoice["amount"]) == ("open", "59.00")
    timeline = shop.timeline(order)
    shipped = first(timeline, "GoodsShipped")["event"]["time"]
    assert invoice["due_at"] == first(timeline, "InvoiceSent")["event"]["data"]["due_at"]
    assert invoice["due_at"] > shipped

    shop.pass_time("P10D")
    assert shop.pay_invoice(invoice["id"])["status"] == "paid"
    shop.advance_clock("P30D")

    assert shop.invoices(order)[0]["status"] == "paid"
    assert "InvoiceOverdue" not in shop.timeline_types(order)
    assert ended(shop, order) == ("delivered", None)


@EVERY
def test_an_overdue_vip_invoice_is_dunned_and_the_goods_stay_shipped(shop: Shop,
                                                                     style: str) -> None:
    order = shop.place(style=style, vip=True, items=(("sku-2", 1),))
    shop.advance_clock("P29D")
    assert shop.invoices(order)[0]["status"] == "open"

    shop.advance_clock("P2D")

    assert shop.invoices(order)[0]["status"] == "overdue"
    assert ended(shop, order) == ("delivered", None)
    assert taken(shop, "sku-2") == 1 and money(shop) == (0, 0)
    timeline = shop.timeline(order)
    assert "InvoiceDue" in ancestors(timeline, first(timeline, "InvoiceOverdue"))
    assert not {"GoodsReleased", "OrderCancelled"} & set(shop.timeline_types(order))
    assert shop.pay_invoice(shop.invoices(order)[0]["id"])["status"] == "paid"


@EVERY
def test_an_undeliverable_vip_order_puts_the_goods_back_and_sends_no_invoice(
        shop: Shop, style: str) -> None:
    order = shop.place(style=style, vip=True, address="UNDELIVERABLE", items=(("sku-2", 1),))

    assert ended(shop, order) == ("cancelled", "undeliverable")
    assert taken(shop, "sku-2") == 0
    assert money(shop) == (0, 0)
    assert shop.invoices(order) == []  # never sent, in any style
    assert caused_by(shop, order, "GoodsReleased", "ShipmentFailed")



