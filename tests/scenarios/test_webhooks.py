"""Webhooks in every style, on both databases, against a real HTTP receiver on loopback: each
status change of an order arrives once per event id, signed; 500s and timeouts are retried
by the outbox; a parked webhook waits for the operator and holds back no other subscription;
only registered addresses are called."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask import Flask

from app.clock import ManualClock
from app.config import STYLES
from tests.conftest import ADMIN_HEADERS, on_every_database
from tests.shop import Shop
from tests.webhooks import (
    FAIL,
    HANG,
    REDIRECT,
    STATUS_CHANGED,
    Receiver,
    assert_heard_each_change_once,
    pass_time_until,
    status_change_ids,
    status_history,
    webhook_deliveries,
)

pytestmark = on_every_database
EVERY_STYLE = pytest.mark.parametrize("style", STYLES)
MAX_AUTOMATIC_ATTEMPTS = 5  # ORDERFLOW_RETRY_MAX_ATTEMPTS' default
DELIVERER = "webhooks.when_asked_to_deliver_a_webhook_post_it"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def all_posted(shop: Shop, order_id: str) -> Callable[[], bool]:
    return lambda: all(d["status"] == "done" for d in webhook_deliveries(shop, order_id))


@EVERY_STYLE
def test_a_receiver_hears_every_status_change_of_an_order_once(shop: Shop, receiver: Receiver,
                                                               style: str) -> None:
    receiver.subscribe(shop.client)
    delivered = shop.place(style=style)
    cancelled = shop.place(style=style, address="9 UNDELIVERABLE Lane", flow="parallel")
    shop.settle()

    assert status_history(shop, delivered) == [("placed", None), ("paid", None),
                                               ("fetched", None), ("delivered", None)]
    assert status_history(shop, cancelled)[-1] == ("cancelled", "undeliverable")
    for order_id in (delivered, cancelled):
        assert_heard_each_change_once(shop, receiver, order_id)
    assert len(receiver.arrivals) == 4 + len(status_history(shop, cancelled))


@EVERY_STYLE
def test_a_webhook_is_a_signed_cloudevent_in_structured_mode(shop: Shop, receiver: Receiver,
                                                             style: str) -> None:
    receiver.subscribe(shop.client)
    order_id = shop.place(style=style)
    shop.settle()

    arrival = receiver.accepted(order_id)[-1]
    event, logged = arrival.event, shop.timeline(order_id)
    (change,) = [m["event"] for m in logged if m["event"]["id"] == arrival.webhook_id]
    assert arrival.headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    assert arrival.headers["webhook-signature"].startswith("v1,") and arrival.verified
    assert {key: event[key] for key in ("specversion", "id", "type", "source", "subject",
                                        "datacontenttype")} == {
        "specversion": "1.0", "id": change["id"], "type": STATUS_CHANGED,
        "source": "/orderflow/orders", "subject": order_id,
        "datacontenttype": "application/json"}
    assert event["data"] == {"order_id": order_id, "status": "delivered", "reason": None,
                             "style": style, "at": event["time"]}
    assert change["data"] == event["data"]


@EVERY_STYLE
def test_a_receiver_answering_500_gets_every_change_through_the_retries(
        shop: Shop, receiver: Receiver, style: str) -> None:
    receiver.subscribe(shop.client)
    receiver.answer_next(FAIL, FAIL, FAIL)
    order_id = shop.place(style=style)
    shop.settle()

    assert shop.order(order_id)["status"] == "delivered"  # the flow never waits for webhooks
    (first, *_) = webhook_deliveries(shop, order_id)
    assert (first["status"], first["attempts"]) == ("failed", 1)
    assert "answered 500" in first["last_error"]
    pass_time_until(shop, all_posted(shop, order_id))

    assert_heard_each_change_once(shop, receiver, order_id)
    assert [a.answer for a in receiver.arrivals][:4] == [500, 500, 500, 200]
    assert len({a.webhook_id for a in receiver.arrivals[:4]}) == 1  # one event, four tries
    assert webhook_deliveries(shop, order_id)[0]["attempts"] == 4


@EVERY_STYLE
def test_a_receiver_that_times_out_gets_the_change_again_with_the_same_id(
        make_app: Callable[..., Flask], clock: ManualClock, receiver: Receiver,
        style: str) -> None:
    shop = Shop(make_app(webhook_timeout=timedelta(seconds=0.5)), clock)
    receiver.subscribe(shop.client)
    receiver.answer_next(HANG)
    order_id = shop.place(style=style)
    shop.settle()

    (first, *_) = webhook_deliveries(shop, order_id)
    assert first["status"] == "failed" and "time" in first["last_error"].lower()
    pass_time_until(shop, all_posted(shop, order_id))

    assert_heard_each_change_once(shop, receiver, order_id)
    hung, again = receiver.arrivals[:2]
    assert (hung.answer, again.answer) == (None, 200)
    assert hung.webhook_id == again.webhook_id and hung.body == again.body


@EVERY_STYLE
def test_a_parked_webhook_waits_for_the_operator_and_holds_back_no_other_subscription(
        shop: Shop, receiver: Receiver, style: str) -> None:
    receiver.subscribe(shop.client, "/down")
    receiver.subscribe(shop.client, "/up")
    receiver.answer_next(*[FAIL] * MAX_AUTOMATIC_ATTEMPTS, path="/down")
    order_id = shop.place(style=style)
    shop.settle()
    pass_time_until(shop, lambda: shop.deadletters(order_id))

    (letter,) = shop.deadletters(order_id)
    assert (letter["receiver"], letter["message"]) == (DELIVERER,
                                                       "orderflow.webhooks.DeliverWebhook")
    assert letter["attempts"] == MAX_AUTOMATIC_ATTEMPTS
    assert_heard_each_change_once(shop, receiver, order_id, "/up")
    assert receiver.accepted(order_id, "/down") == []
    assert shop.order(order_id)["stuck"]["deadletters"][0]["id"] == letter["id"]

    assert shop.retry(letter["id"])["status"] == "done"

    assert_heard_each_change_once(shop, receiver, order_id, "/down")
    assert shop.deadletters(order_id) == [] and shop.order(order_id)["stuck"] is None


@EVERY_STYLE
def test_subscriptions_hear_only_the_statuses_and_styles_they_asked_for(
        shop: Shop, receiver: Receiver, style: str) -> None:
    other = next(s for s in STYLES if s != style)
    receiver.subscribe(shop.client, "/endings", statuses=["delivered", "cancelled"])
    receiver.subscribe(shop.client, "/other-style", styles=[other])
    receiver.subscribe(shop.client, "/paid-here", statuses=["paid"], styles=[style])
    order_id = shop.place(style=style)
    shop.settle()

    def heard(path: str) -> list[str]:
        return [a.event["data"]["status"] for a in receiver.accepted(order_id, path)]

    assert (heard("/endings"), heard("/other-style"), heard("/paid-here")) == (
        ["delivered"], [], ["paid"])
    assert len(receiver.arrivals) == 2


@EVERY_STYLE
def test_a_removed_webhook_is_called_no_more(shop: Shop, receiver: Receiver,
                                             style: str) -> None:
    webhook = receiver.subscribe(shop.client)
    receiver.answer_next(FAIL)
    order_id = shop.place(style=style)
    shop.settle()
    assert len(receiver.arrivals) == 1

    response = shop.client.delete(f"/api/webhooks/{webhook['id']}", headers=ADMIN_HEADERS)
    assert response.status_code == 204
    pass_time_until(shop, all_posted(shop, order_id))
    shop.place(style=style)
    shop.settle()

    assert len(receiver.arrivals) == 1  # the retry found no subscription; nothing else went out
    assert len(status_change_ids(shop, order_id)) == 4


@EVERY_STYLE
def test_a_redirect_is_not_followed(shop: Shop, receiver: Receiver, style: str) -> None:
    with Receiver() as elsewhere:
        receiver.redirect_to = elsewhere.url()
        receiver.subscribe(shop.client)
        receiver.answer_next(REDIRECT)
        order_id = shop.place(style=style)
        shop.settle()

        (first, *_) = webhook_deliveries(shop, order_id)
        assert first["status"] == "failed" and "answered 307" in first["last_error"]
        pass_time_until(shop, all_posted(shop, order_id))

        assert elsewhere.arrivals == []
        assert_heard_each_change_once(shop, receiver, order_id)
