"""The four endings of an order, in every style. This suite is the definition of "the styles
are interchangeable": each scenario must end the same way whichever style runs it."""

from __future__ import annotations

import pytest

from app.config import STYLES
from tests.conftest import on_every_database
from tests.shop import Shop, ancestors, first

pytestmark = on_every_database

CENTS = {"sku-1": 2490, "sku-2": 5900, "sku-3": 1450, "sku-last": 3900, "sku-none": 7900}
ENDED_FLOW_MESSAGES = ("OrderDelivered", "OrderCancelled")


def all_delivered(shop: Shop, order_id: str) -> bool:
    return all(d["status"] == "done" for m in shop.timeline(order_id) for d in m["deliveries"])


@pytest.mark.parametrize("style", STYLES)
def test_happy_path_delivers_and_takes_the_money_once(shop: Shop, style: str) -> None:
    order = shop.place(style=style, items=(("sku-1", 2), ("sku-3", 1)))
    shop.settle()

    placed = shop.order(order)
    assert (placed["status"], placed["reason"], placed["style"]) == ("delivered", None, style)
    assert placed["total"] == "64.30"
    assert shop.stock("sku-1") == shop.initial["sku-1"] - 2
    assert shop.stock("sku-3") == shop.initial["sku-3"] - 1
    assert (shop.charged_cents, shop.refunded_cents, shop.parcels_sent) == (6430, 0, 1)
    types = shop.timeline_types(order)
    assert types[0] == "OrderPlaced" and types[-1] == "OrderDelivered"
    assert {"PaymentReceived", "GoodsFetched", "GoodsShipped"} <= set(types)
    assert all_delivered(shop, order)


@pytest.mark.parametrize("style", STYLES)
def test_declined_payment_cancels_without_taking_stock(shop: Shop, style: str) -> None:
    order = shop.place(style=style, token="tok_decline")
    shop.settle()

    placed = shop.order(order)
    assert (placed["status"], placed["reason"]) == ("cancelled", "payment_declined")
    assert shop.stock("sku-1") == shop.initial["sku-1"]
    assert (shop.charged_cents, shop.refunded_cents, shop.parcels_sent) == (0, 0, 0)
    types = shop.timeline_types(order)
    assert "PaymentFailed" in types and types[-1] == "OrderCancelled"
    assert not {"GoodsFetched", "FetchGoods", "OrderReleased"} & set(types)


@pytest.mark.parametrize("style", STYLES)
def test_goods_unavailable_cancels_and_refunds_what_was_collected(shop: Shop, style: str) -> None:
    order = shop.place(style=style, items=(("sku-1", 1), ("sku-none", 1)))
    shop.settle()

    placed = shop.order(order)
    assert (placed["status"], placed["reason"]) == ("cancelled", "out_of_stock")
    assert shop.stock("sku-1") == shop.initial["sku-1"]  # all or nothing: sku-1 went back
    assert shop.charged_cents == shop.refunded_cents == CENTS["sku-1"] + CENTS["sku-none"]
    assert shop.parcels_sent == 0
    timeline = shop.timeline(order)
    refunded = first(timeline, "PaymentRefunded")
    assert "GoodsUnavailable" in ancestors(timeline, refunded)
    assert all_delivered(shop, order)


@pytest.mark.parametrize("style", STYLES)
def test_undeliverable_parcel_is_released_and_refunded(shop: Shop, style: str) -> None:
    order = shop.place(style=style, address="12 UNDELIVERABLE Road", items=(("sku-2", 3),))
    shop.settle()

    placed = shop.order(order)
    assert (placed["status"], placed["reason"]) == ("cancelled", "undeliverable")
    assert shop.stock("sku-2") == shop.initial["sku-2"]
    assert shop.charged_cents == shop.refunded_cents == 3 * CENTS["sku-2"]
    assert shop.parcels_sent == 0
    timeline = shop.timeline(order)
    for compensation in ("GoodsReleased", "PaymentRefunded"):
        assert "ShipmentFailed" in ancestors(timeline, first(timeline, compensation))
    assert all_delivered(shop, order)


@pytest.mark.parametrize("style", STYLES)
def test_two_orders_for_the_last_unit_one_gets_it(shop: Shop, style: str) -> None:
    first_order = shop.place(style=style, items=(("sku-last", 1),))
    second_order = shop.place(style=style, items=(("sku-last", 1),))
    shop.settle()

    outcomes = sorted((shop.order(o)["status"], shop.order(o)["reason"])
                      for o in (first_order, second_order))
    assert outcomes == [("cancelled", "out_of_stock"), ("delivered", None)]
    assert shop.stock("sku-last") == 0
    assert shop.charged_cents - shop.refunded_cents == CENTS["sku-last"]


@pytest.mark.parametrize("style", STYLES)
def test_flaky_provider_is_retried_with_backoff_then_delivered(shop: Shop, style: str) -> None:
    order = shop.place(style=style, token="tok_flaky")
    shop.settle()
    assert shop.order(order)["status"] == "placed"
    waiting = [d for m in shop.timeline(order) for d in m["deliveries"] if d["status"] == "failed"]
    assert [(d["module"], d["attempts"]) for d in waiting] == [("payment", 1)]
    assert "tok_flaky" in waiting[0]["last_error"]

    shop.pass_time("PT1S")   # first retry after the base delay: fails again
    shop.pass_time("PT2S")   # second retry after base * factor: succeeds
    assert shop.order(order)["status"] == "delivered"
    assert shop.charged_cents == CENTS["sku-1"]


@pytest.mark.parametrize("style", STYLES)
def test_a_waiting_clarification_holds_the_order_without_charging(shop: Shop, style: str) -> None:
    order = shop.place(style=style, token="tok_clarify")
    shop.settle()
    assert shop.order(order)["status"] == "payment_clarification"
    assert shop.charged_cents == 0
    assert shop.stock("sku-1") == shop.initial["sku-1"]


@pytest.mark.parametrize("style", STYLES)
def test_a_large_order_fits_the_money_columns(shop: Shop, style: str) -> None:
    """Up to 50 lines of 100 at 1,000,000.00: totals beyond 32-bit cents."""
    from tests.conftest import ADMIN_HEADERS

    shop.client.put("/api/catalog/gold", json={"price": "1000000.00", "stock": 1000},
                    headers=ADMIN_HEADERS)
    order = shop.place(style=style, items=(("gold", 22),))
    assert shop.order(order)["total"] == "22000000.00"
    assert shop.order(order)["status"] == "delivered"
    assert shop.charged_cents == 2_200_000_000
