"""Stuck flows: an unfinished order with no message for longer than ORDERFLOW_STUCK_AFTER (30 min
here, the default), or one an operator must unblock, in every style alike. In choreography there
is no saga to ask; the answer comes from the message log."""

from __future__ import annotations

import pytest

from app.config import STYLES
from tests.conftest import ADMIN_HEADERS
from tests.shop import Shop, places

EVERY = pytest.mark.parametrize("style", STYLES)


def stuck_ids(shop: Shop, **filters: str) -> list[str]:
    query = "&".join(f"{key}={value}" for key, value in {"stuck": "true", **filters}.items())
    response = shop.client.get(f"/api/orders?{query}", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def flagged(shop: Shop) -> dict[str, bool]:
    items = shop.client.get("/api/orders", headers=ADMIN_HEADERS).get_json()["items"]
    return {item["id"]: item["stuck"] for item in items}


@EVERY
def test_an_order_waiting_in_silence_becomes_stuck_after_the_threshold(shop: Shop,
                                                                       style: str) -> None:
    waiting = shop.place(style=style, token="tok_clarify")
    done = shop.place(style=style)
    shop.pass_time("PT29M")
    assert stuck_ids(shop) == [] and shop.order(waiting)["stuck"] is None

    shop.pass_time("PT2M")

    assert stuck_ids(shop) == [waiting]
    assert flagged(shop) == {waiting: True, done: False}
    why = shop.order(waiting)["stuck"]["why"]
    assert why == "no message for 31 min (unfinished, waiting at payment_clarification)"


@EVERY
def test_a_new_message_unsticks_the_order(shop: Shop, style: str) -> None:
    waiting = shop.place(style=style, token="tok_clarify")
    shop.pass_time("PT1H")
    assert stuck_ids(shop) == [waiting]

    shop.complete_task(waiting, "approved")

    assert shop.order(waiting)["status"] == "delivered"
    assert stuck_ids(shop) == [] and shop.order(waiting)["stuck"] is None


@EVERY
def test_a_parked_delivery_makes_the_order_stuck_at_once(shop: Shop, style: str) -> None:
    order = shop.place(style=style, token="tok_outage")
    for _ in range(5):  # the default retry policy: 5 attempts, the last after 15 s
        shop.pass_time("PT1M")
    assert [letter["module"] for letter in shop.deadletters(order)] == ["payment"]
    assert stuck_ids(shop) == [order]  # only 5 minutes have passed: stuck for being parked

    shop.retry(shop.deadletters(order)[0]["id"])

    assert shop.order(order)["status"] == "delivered" and stuck_ids(shop) == []


@EVERY
def test_stuck_combines_with_the_other_filters(shop: Shop, style: str) -> None:
    other_style = next(s for s in STYLES if s != style)
    mine = shop.place(style=style, token="tok_clarify")
    theirs = shop.place(style=other_style, token="tok_clarify")
    shop.pass_time("PT1H")

    assert stuck_ids(shop, style=style) == [mine]
    assert stuck_ids(shop, style=other_style) == [theirs]
    assert stuck_ids(shop, status="payment_clarification", style=style) == [mine]
    assert stuck_ids(shop, status="placed") == []


def test_the_threshold_is_a_setting(make_app, clock) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    shop = Shop(make_app(stuck_after=timedelta(days=2)), clock)
    waiting = shop.place(style="hybrid", token="tok_clarify")
    shop.pass_time("P1D")
    assert stuck_ids(shop) == []
    shop.pass_time("P1DT1M")
    assert stuck_ids(shop) == [waiting]


def test_a_stuck_filter_that_is_not_a_yes_or_no_is_a_400_naming_it(shop: Shop) -> None:
    response = shop.client.get("/api/orders?stuck=maybe", headers=ADMIN_HEADERS)
    assert response.status_code == 422
    assert places(response.get_json())[0] == "query.stuck"


@EVERY
def test_at_exactly_the_threshold_the_list_the_flag_and_the_order_agree(shop: Shop,
                                                                        style: str) -> None:
    waiting = shop.place(style=style, token="tok_clarify")
    shop.pass_time("PT30M")  # silent for exactly ORDERFLOW_STUCK_AFTER: not longer

    assert stuck_ids(shop) == [] and flagged(shop)[waiting] is False
    assert shop.order(waiting)["stuck"] is None

    shop.pass_time("PT1S")

    assert stuck_ids(shop) == [waiting] and flagged(shop)[waiting] is True
    assert shop.order(waiting)["stuck"]["why"].startswith("no message for 30 min")
