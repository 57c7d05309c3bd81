"""Every message of an order, served as a CloudEvent in each way the API offers (the timeline's
``event``, the batch, one event structured and in binary mode), in every style: each is parsed
by the CloudEvents SDK and its attributes are checked against the spec's types by hand
(tests/cloudevents_spec.py), since the SDK does not check value types."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_binary_event, from_structured_event
from cloudevents.core.formats.json import JSONFormat
from werkzeug.test import TestResponse

from app.config import STYLES
from tests.cloudevents_spec import attribute_problems
from tests.conftest import on_every_database
from tests.shop import Shop, error_code

pytestmark = on_every_database

BATCH = "application/cloudevents-batch+json"
STRUCTURED = "application/cloudevents+json"


def events_url(order_id: str, *rest: str) -> str:
    return "/".join([f"/api/orders/{order_id}/events", *rest])


def http_message(response: TestResponse) -> HTTPMessage:
    return HTTPMessage(headers=dict(response.headers), body=response.get_data())


def conformant(event: dict[str, Any]) -> BaseCloudEvent:
    """The event passes the hand-made type check and the SDK parses it."""
    assert attribute_problems(event) == [], event
    parsed = JSONFormat().read(None, json.dumps(event).encode())
    assert parsed.get_id() == event["id"] and parsed.get_data() == event["data"]
    return parsed


def batch(shop: Shop, order_id: str) -> list[dict[str, Any]]:
    response = shop.client.get(events_url(order_id))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == BATCH
    events = json.loads(response.get_data())
    assert isinstance(events, list)
    return events


@pytest.mark.parametrize("style", STYLES)
def test_the_timeline_carries_each_event_apart_from_its_deliveries(shop: Shop,
                                                                   style: str) -> None:
    for order_id in shop.place_every_ending(style):
        timeline = shop.timeline(order_id)
        assert timeline and [m["seq"] for m in timeline] == sorted(m["seq"] for m in timeline)
        for message in timeline:
            assert set(message) == {"seq", "event", "deliveries"}
            assert isinstance(message["seq"], int) and isinstance(message["deliveries"], list)
            conformant(message["event"])
            assert not {"seq", "deliveries"} & set(message["event"])


@pytest.mark.parametrize("style", STYLES)
def test_the_batch_is_the_whole_timeline_and_every_event_in_it_conforms(shop: Shop,
                                                                        style: str) -> None:
    for order_id in shop.place_every_ending(style):
        events = batch(shop, order_id)

        assert events == [message["event"] for message in shop.timeline(order_id)]
        for event in events:
            assert conformant(event).get_extension("flowid") == order_id


@pytest.mark.parametrize("style", STYLES)
def test_one_event_in_structured_mode_is_the_batchs_event(shop: Shop, style: str) -> None:
    for order_id in shop.place_every_ending(style):
        for event in batch(shop, order_id):
            response = shop.client.get(events_url(order_id, event["id"]))

            assert response.status_code == 200 and response.mimetype == STRUCTURED
            assert response.get_json(force=True) == event
            parsed = from_structured_event(http_message(response))
            assert parsed.get_attributes() == conformant(event).get_attributes()


@pytest.mark.parametrize("style", STYLES)
def test_one_event_in_binary_mode_has_its_attributes_in_headers_and_its_data_as_the_body(
        shop: Shop, style: str) -> None:
    for order_id in shop.place_every_ending(style):
        for event in batch(shop, order_id):
            response = shop.client.get(events_url(order_id, event["id"]),
                                       query_string={"mode": "binary"})

            assert response.status_code == 200
            assert response.mimetype == event["datacontenttype"]
            assert response.get_json() == event["data"]
            parsed = from_binary_event(http_message(response))
            assert parsed.get_attributes() == {**attributes(event),
                                               "time": datetime.fromisoformat(event["time"])}
            assert attribute_problems(from_headers(response)) == []


def attributes(event: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in event.items() if name != "data"}


def from_headers(response: TestResponse) -> dict[str, Any]:
    """The event's attributes as the ce- headers carry them (every value a string here)."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    found = {name[3:]: value for name, value in headers.items() if name.startswith("ce-")}
    return {**found, "datacontenttype": headers["content-type"]}


@pytest.mark.parametrize("style", STYLES)
def test_no_way_of_serving_events_shows_the_payment_token(shop: Shop, style: str) -> None:
    order_id = shop.place(style=style, token="tok_ok")
    bodies = [shop.client.get(events_url(order_id)).get_data(as_text=True)]
    for event in batch(shop, order_id):
        for mode in ("structured", "binary"):
            response = shop.client.get(events_url(order_id, event["id"]),
                                       query_string={"mode": mode})
            bodies.append(response.get_data(as_text=True) + str(response.headers))

    assert any("[redacted]" in body for body in bodies)
    assert not any("tok_ok" in body for body in bodies)


def test_an_unknown_order_or_event_is_a_404(shop: Shop) -> None:
    order_id, other = shop.place(style="hybrid"), shop.place(style="hybrid")
    theirs = batch(shop, other)[0]["id"]

    for url, code in [(events_url("ord_nobody"), "order_not_found"),
                      (events_url("ord_nobody", theirs), "order_not_found"),
                      (events_url(order_id, "nothing-by-this-id"), "event_not_found"),
                      (events_url(order_id, theirs), "event_not_found")]:
        response = shop.client.get(url, query_string={"mode": "binary"})
        assert response.status_code == 404, url
        assert error_code(response.get_json()) == code, url


def test_a_mode_that_is_neither_structured_nor_binary_is_refused(shop: Shop) -> None:
    order_id = shop.place(style="orchestration")
    event_id = batch(shop, order_id)[0]["id"]

    response = shop.client.get(events_url(order_id, event_id), query_string={"mode": "raw"})

    assert response.status_code == 422
