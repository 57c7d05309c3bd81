"""The HTTP API through Flask's test client, against the spec in the README: what a client
sends, what it gets back, and that a refused request writes nothing. Dispatch is inline, so an
order has been settled by the time ``POST /api/orders`` returns."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.clock import ManualClock
from app.config import STYLES, ConfigError
from tests.conftest import ADMIN_HEADERS
from tests.shop import error_of, places

ORDERS = "/api/orders"
CATALOG = "/api/catalog"
KIB = 1024
CLOUDEVENT_ATTRIBUTES = ("specversion", "id", "type", "source", "time", "datacontenttype",
                         "data", "flowid", "style", "kind")  # causationid: all but the first
DELIVERY_FIELDS = ("receiver", "module", "status", "attempts", "last_error")


# --- helpers ------------------------------------------------------------------------------------
def order_body(**changes: Any) -> dict[str, Any]:
    """A valid order for two espresso bags; ``changes`` replace top-level fields."""
    body: dict[str, Any] = {
        "customer": {"id": "c-1", "name": "Ada Lovelace", "address": "1 Main Street"},
        "items": [{"sku": "sku-1", "quantity": 2}],
        "payment": {"token": "tok_ok"},
    }
    body.update(changes)
    return body


def _step(node: Any, key: str) -> Any:
    return node[int(key)] if isinstance(node, list) else node[key]


def with_value(body: dict[str, Any], where: str, value: Any) -> dict[str, Any]:
    """A copy of ``body`` with the value at a dotted path (``items.0.quantity``) set."""
    changed = copy.deepcopy(body)
    *parents, last = where.split(".")
    target: Any = changed
    for key in parents:
        target = _step(target, key)
    target[int(last) if isinstance(target, list) else last] = value
    return changed


def without(body: dict[str, Any], where: str) -> dict[str, Any]:
    """A copy of ``body`` without the field at a dotted path."""
    changed = copy.deepcopy(body)
    *parents, last = where.split(".")
    target: Any = changed
    for key in parents:
        target = _step(target, key)
    del target[last]
    return changed


def place(client: FlaskClient, **changes: Any) -> dict[str, Any]:
    response = client.post(ORDERS, json=order_body(**changes))
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def catalogue(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get(CATALOG)
    assert response.status_code == 200
    return response.get_json()["items"]


def available(client: FlaskClient, sku: str) -> int:
    return next(item["available"] for item in catalogue(client) if item["sku"] == sku)


def order_ids(client: FlaskClient, query: str = "") -> list[str]:
    response = client.get(f"{ORDERS}{query}", headers=ADMIN_HEADERS)
    assert response.status_code == 200, response.get_json()
    return [order["id"] for order in response.get_json()["items"]]


def walk(client: FlaskClient, **query: Any) -> list[list[str]]:
    """Every page of the order list, following ``next_cursor`` until there is none."""
    pages, cursor = [], None
    while True:
        params = {**query, **({"cursor": cursor} if cursor else {})}
        response = client.get(ORDERS, headers=ADMIN_HEADERS, query_string=params)
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        pages.append([order["id"] for order in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "the cursor never ran out"


def timeline(client: FlaskClient, order_id: str) -> list[dict[str, Any]]:
    """The timeline's entries: ``{"seq", "event", "deliveries"}`` and nothing else."""
    response = client.get(f"{ORDERS}/{order_id}/timeline")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["order_id"] == order_id
    assert all(set(message) == {"seq", "event", "deliveries"} for message in body["messages"])
    return body["messages"]


def short_types(messages: list[dict[str, Any]]) -> list[str]:
    return [message["event"]["type"].rsplit(".", 1)[-1] for message in messages]


def is_timestamp(value: str) -> bool:
    return datetime.fromisoformat(value).tzinfo is not None


@pytest.fixture
def catalogue_before(client: FlaskClient) -> list[dict[str, Any]]:
    return catalogue(client)


@pytest.fixture
def nothing_written(client: FlaskClient,
                    catalogue_before: list[dict[str, Any]]) -> Callable[[], None]:
    """Call after a refused request: no order exists and the catalogue is as it was."""

    def check() -> None:
        assert order_ids(client) == []
        assert catalogue(client) == catalogue_before

    return check


# --- placing an order ---------------------------------------------------------------------------
def test_placing_an_order_answers_202_with_the_order(client: FlaskClient) -> None:
    response = client.post(ORDERS, json=order_body())

    assert response.status_code == 202
    order = response.get_json()
    assert order["id"].startswith("ord_")
    assert order["status"] == "delivered"
    assert order["style"] in STYLES


def test_the_location_header_points_at_the_new_order(client: FlaskClient) -> None:
    response = client.post(ORDERS, json=order_body())

    location = response.headers["Location"]
    assert location.endswith(f"/api/orders/{response.get_json()['id']}")
    assert client.get(location).get_json() == response.get_json()


def test_an_order_shows_status_style_customer_items_total_and_times(client: FlaskClient) -> None:
    body = order_body(customer={"id": "c-7", "name": "Grace", "address": "2 Side St", "vip": True},
                      items=[{"sku": "sku-1", "quantity": 2}, {"sku": "sku-3", "quantity": 1}])
    order_id = place(client, **body)["id"]

    order = client.get(f"{ORDERS}/{order_id}").get_json()

    assert order["id"] == order_id
    assert order["status"] == "delivered"
    assert order["reason"] is None
    assert order["customer"] == {"id": "c-7", "name": "Grace", "address": "2 Side St",
                                 "vip": True}
    assert [(item["sku"], item["quantity"], item["unit_price"]) for item in order["items"]] == [
        ("sku-1", 2, "24.90"), ("sku-3", 1, "14.50")]
    assert order["total"] == "64.30"
    assert is_timestamp(order["created_at"]) and is_timestamp(order["updated_at"])


@pytest.mark.parametrize("style", STYLES)
def test_an_order_runs_in_the_style_it_asks_for(client: FlaskClient, style: str) -> None:
    order = place(client, style=style)

    assert order["style"] == style
    assert client.get(f"{ORDERS}/{order['id']}").get_json()["style"] == style


def test_an_order_without_a_style_runs_in_the_configured_one(
        make_app: Callable[..., Flask]) -> None:
    client = make_app(style="orchestration").test_client()

    assert place(client)["style"] == "orchestration"


def test_a_declined_payment_cancels_the_order_with_a_reason(client: FlaskClient) -> None:
    order = place(client, payment={"token": "tok_decline"})

    assert order["status"] == "cancelled"
    assert order["reason"]


def test_a_delivered_order_takes_its_goods_off_the_shelf(client: FlaskClient) -> None:
    before = available(client, "sku-1")

    place(client, items=[{"sku": "sku-1", "quantity": 3}])

    assert available(client, "sku-1") == before - 3


@pytest.mark.parametrize("quantity", [1, 100])
def test_quantities_at_the_limits_are_accepted(client: FlaskClient, quantity: int) -> None:
    order = place(client, items=[{"sku": "sku-1", "quantity": quantity}])

    assert order["items"][0]["quantity"] == quantity


def padded_order(size: int) -> bytes:
    """A valid order padded with whitespace to exactly ``size`` bytes."""
    raw = json.dumps(order_body()).encode()
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def test_a_body_of_exactly_64_kib_is_accepted(client: FlaskClient) -> None:
    response = client.post(ORDERS, data=padded_order(64 * KIB), content_type="application/json")

    assert response.status_code == 202, response.get_json()


# --- refused orders write nothing ---------------------------------------------------------------
@pytest.mark.parametrize("raw", [b"{bad", b'{"customer": ', b"{'single': 'quotes'}", b"\xff\xfe"])
def test_malformed_json_is_a_400(client: FlaskClient, nothing_written: Callable[[], None],
                                 raw: bytes) -> None:
    response = client.post(ORDERS, data=raw, content_type="application/json")

    assert error_of(response, 400)["code"] == "malformed_json"
    nothing_written()


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "application/xml"])
def test_a_body_that_is_not_declared_as_json_is_a_415(
        client: FlaskClient, nothing_written: Callable[[], None], content_type: str) -> None:
    response = client.post(ORDERS, data=json.dumps(order_body()), content_type=content_type)

    error_of(response, 415)
    nothing_written()


@pytest.mark.parametrize("raw", [b"", b"   \n"])
def test_an_empty_body_is_a_400(client: FlaskClient, nothing_written: Callable[[], None],
                                raw: bytes) -> None:
    response = client.post(ORDERS, data=raw, content_type="application/json")

    error_of(response, 400)
    nothing_written()


@pytest.mark.parametrize("document", [[], [order_body()], "text", 5, None, True,
                                      json.dumps(order_body())])
def test_a_body_that_is_not_a_json_object_is_a_422(
        client: FlaskClient, nothing_written: Callable[[], None], document: Any) -> None:
    response = client.post(ORDERS, data=json.dumps(document), content_type="application/json")

    assert places(error_of(response, 422)) == ["body"]
    nothing_written()


@pytest.mark.parametrize("field", ["customer", "customer.id", "customer.name", "customer.address",
                                   "items", "items.0.sku", "items.0.quantity", "payment",
                                   "payment.token"])
def test_a_missing_field_is_a_422_naming_it(
        client: FlaskClient, nothing_written: Callable[[], None], field: str) -> None:
    response = client.post(ORDERS, json=without(order_body(), field))

    error = error_of(response, 422)
    assert f"body.{field}" in places(error)
    assert field in error["detail"]
    nothing_written()


@pytest.mark.parametrize(("field", "value"), [
    ("customer", "Ada"), ("customer.name", 5), ("customer.address", ""),
    ("customer.vip", "yes"), ("items", {"sku": "sku-1"}), ("items", []), ("items.0", "sku-1"),
    ("items.0.sku", 1), ("items.0.sku", "  "), ("payment", "tok_ok"), ("payment.token", None),
    ("payment.method", "cash"),
])
def test_a_wrongly_typed_field_is_a_422_naming_it(
        client: FlaskClient, nothing_written: Callable[[], None], field: str, value: Any) -> None:
    response = client.post(ORDERS, json=with_value(order_body(), field, value))

    assert f"body.{field}" in places(error_of(response, 422))
    nothing_written()


@pytest.mark.parametrize("quantity", [0, -1, "2", 2.5, 2.0, True, 101, None, [2]])
def test_a_quantity_that_is_not_a_whole_number_from_1_to_100_is_a_422(
        client: FlaskClient, nothing_written: Callable[[], None], quantity: Any) -> None:
    response = client.post(ORDERS, json=with_value(order_body(), "items.0.quantity", quantity))

    assert places(error_of(response, 422)) == ["body.items.0.quantity"]
    nothing_written()


def test_an_unknown_sku_is_a_422_naming_the_sku(
        client: FlaskClient, nothing_written: Callable[[], None]) -> None:
    items = [{"sku": "sku-1", "quantity": 1}, {"sku": "no-such-thing", "quantity": 1}]

    response = client.post(ORDERS, json=order_body(items=items))

    error = error_of(response, 422)
    assert error["code"] == "unknown_sku"
    assert "no-such-thing" in error["detail"]
    assert places(error) == ["body.items.1.sku"]
    nothing_written()


def test_a_sku_on_two_lines_is_a_422(client: FlaskClient,
                                     nothing_written: Callable[[], None]) -> None:
    items = [{"sku": "sku-1", "quantity": 1}, {"sku": "sku-1", "quantity": 2}]

    response = client.post(ORDERS, json=order_body(items=items))

    error = error_of(response, 422)
    assert places(error) == ["body.items"]
    assert "sku-1" in error["detail"]
    nothing_written()


def test_more_than_fifty_lines_is_a_422(client: FlaskClient,
                                        nothing_written: Callable[[], None]) -> None:
    items = [{"sku": f"sku-{n}", "quantity": 1} for n in range(51)]

    response = client.post(ORDERS, json=order_body(items=items))

    assert places(error_of(response, 422)) == ["body.items"]
    nothing_written()


@pytest.mark.parametrize("style", ["bogus", "Choreography", "", 1])
def test_an_unknown_style_is_a_422(client: FlaskClient, nothing_written: Callable[[], None],
                                   style: Any) -> None:
    response = client.post(ORDERS, json=order_body(style=style))

    assert places(error_of(response, 422)) == ["body.style"]
    nothing_written()


@pytest.mark.parametrize("field", ["coupon", "customer.email", "items.0.colour",
                                   "payment.cvc"])
def test_an_unknown_field_is_a_422_naming_it(
        client: FlaskClient, nothing_written: Callable[[], None], field: str) -> None:
    response = client.post(ORDERS, json=with_value(order_body(), field, "x"))

    assert places(error_of(response, 422)) == [f"body.{field}"]
    nothing_written()


def test_a_body_over_64_kib_is_a_413(client: FlaskClient,
                                     nothing_written: Callable[[], None]) -> None:
    body = order_body(customer={"id": "c-1", "name": "Ada", "address": "x" * (64 * KIB)})

    response = client.post(ORDERS, json=body)

    assert error_of(response, 413)["code"] == "body_too_large"
    nothing_written()


def test_a_body_one_byte_over_64_kib_is_a_413(client: FlaskClient,
                                              nothing_written: Callable[[], None]) -> None:
    response = client.post(ORDERS, data=padded_order(64 * KIB + 1),
                           content_type="application/json")

    error_of(response, 413)
    nothing_written()


def test_the_body_limit_can_be_configured(make_app: Callable[..., Flask]) -> None:
    client = make_app(max_body_bytes=KIB).test_client()
    body = order_body(customer={"id": "c-1", "name": "Ada", "address": "x" * 2 * KIB})

    response = client.post(ORDERS, json=body)

    assert "1024" in error_of(response, 413)["detail"]
    assert order_ids(client) == []


def test_a_refused_order_leaves_the_shop_able_to_take_the_next(client: FlaskClient) -> None:
    client.post(ORDERS, json=with_value(order_body(), "items.0.quantity", 0))

    order = place(client)

    assert order_ids(client) == [order["id"]]


# --- reading orders -----------------------------------------------------------------------------
@pytest.mark.parametrize("order_id", ["ord_doesnotexist", "x" * 200, "ord_%20"])
def test_an_unknown_order_is_a_404(client: FlaskClient, order_id: str) -> None:
    response = client.get(f"{ORDERS}/{order_id}")

    assert error_of(response, 404)["code"] == "order_not_found"


def test_the_timeline_of_an_unknown_order_is_a_404(client: FlaskClient) -> None:
    response = client.get(f"{ORDERS}/ord_doesnotexist/timeline")

    assert error_of(response, 404)["code"] == "order_not_found"


@pytest.mark.parametrize("path", ["/nope", "/api/nope", "/api/orders/x/y/z"])
def test_an_unknown_route_is_a_json_404(client: FlaskClient, path: str) -> None:
    error_of(client.get(path), 404)


def test_a_wrong_method_is_a_json_405(client: FlaskClient) -> None:
    error_of(client.delete(ORDERS), 405)


# --- listing orders -----------------------------------------------------------------------------
def test_the_order_list_starts_empty(client: FlaskClient) -> None:
    listed = client.get(ORDERS, headers=ADMIN_HEADERS).get_json()
    assert listed == {"items": [], "next_cursor": None}


def test_the_order_list_shows_the_newest_first(client: FlaskClient) -> None:
    placed = [place(client)["id"] for _ in range(3)]

    assert order_ids(client) == placed[::-1]


def test_listed_orders_have_the_order_fields(client: FlaskClient) -> None:
    order = place(client)

    listed = client.get(ORDERS, headers=ADMIN_HEADERS).get_json()["items"][0]

    for field in ("id", "status", "reason", "style", "customer", "total", "created_at",
                  "updated_at"):
        assert listed[field] == order[field]


def test_walking_the_pages_yields_every_order_once_newest_first(client: FlaskClient) -> None:
    placed = [place(client)["id"] for _ in range(7)]

    pages = walk(client, limit=3)

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [order_id for page in pages for order_id in page] == placed[::-1]


def test_a_last_full_page_has_no_next_cursor(client: FlaskClient) -> None:
    placed = [place(client)["id"] for _ in range(4)]

    pages = walk(client, limit=2)

    assert pages == [placed[:1:-1], placed[1::-1]]


def test_orders_placed_while_paging_do_not_shift_the_pages(client: FlaskClient) -> None:
    placed = [place(client)["id"] for _ in range(4)]
    first = client.get(ORDERS, headers=ADMIN_HEADERS, query_string={"limit": 2}).get_json()
    place(client)

    second = client.get(ORDERS, headers=ADMIN_HEADERS,
                        query_string={"limit": 2, "cursor": first["next_cursor"]})

    assert [order["id"] for order in second.get_json()["items"]] == placed[1::-1]


def test_the_list_filters_by_status(client: FlaskClient) -> None:
    delivered = place(client)["id"]
    cancelled = place(client, payment={"token": "tok_decline"})["id"]

    assert order_ids(client, "?status=delivered") == [delivered]
    assert order_ids(client, "?status=cancelled") == [cancelled]
    assert order_ids(client, "?status=placed") == []


def test_the_list_filters_by_style(client: FlaskClient) -> None:
    ids = {style: place(client, style=style)["id"] for style in STYLES}

    for style in STYLES:
        assert order_ids(client, f"?style={style}") == [ids[style]]


def test_filters_combine_and_page(client: FlaskClient) -> None:
    wanted = []
    for _ in range(5):
        wanted.append(place(client, style="hybrid", payment={"token": "tok_decline"})["id"])
        place(client, style="hybrid")
        place(client, style="choreography", payment={"token": "tok_decline"})

    pages = walk(client, limit=2, status="cancelled", style="hybrid")

    assert [order_id for page in pages for order_id in page] == wanted[::-1]


def cursor_of(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("cursor", ["zzz", "!!!", "%%%", cursor_of("x:1"), cursor_of("o:abc"),
                                    cursor_of("o:"), "a" * 50])
def test_a_bogus_cursor_is_a_400(client: FlaskClient, cursor: str) -> None:
    place(client)

    response = client.get(ORDERS, headers=ADMIN_HEADERS, query_string={"cursor": cursor})

    error = error_of(response, 400)
    assert error["code"] == "invalid_cursor"
    assert places(error) == ["query.cursor"]


@pytest.mark.parametrize("query", ["status=lost", "style=bogus", "limit=0", "limit=201",
                                   "limit=ten", "colour=red"])
def test_a_bad_list_query_is_a_422_naming_the_parameter(client: FlaskClient, query: str) -> None:
    response = client.get(f"{ORDERS}?{query}", headers=ADMIN_HEADERS)

    assert places(error_of(response, 422)) == [f"query.{query.split('=')[0]}"]


# --- the timeline -------------------------------------------------------------------------------
@pytest.mark.parametrize("style", STYLES)
def test_the_timeline_is_cloudevents_in_publication_order(client: FlaskClient,
                                                          style: str) -> None:
    order_id = place(client, style=style)["id"]

    messages = timeline(client, order_id)

    assert short_types(messages)[0] == "OrderPlaced"
    assert short_types(messages)[-1] == "OrderDelivered"
    assert [message["seq"] for message in messages] == sorted(m["seq"] for m in messages)
    for event in (message["event"] for message in messages):
        assert set(CLOUDEVENT_ATTRIBUTES) <= set(event)
        assert event["specversion"] == "1.0"
        assert event["datacontenttype"] == "application/json"
        assert event["flowid"] == order_id
        assert event["style"] == style
        assert event["kind"] in ("event", "command")
        assert event["data"]["order_id"] == order_id
        assert is_timestamp(event["time"])
        assert "deliveries" not in event and "seq" not in event


def test_timeline_types_name_the_owning_module(client: FlaskClient) -> None:
    order_id = place(client, style="choreography")["id"]

    messages = timeline(client, order_id)

    events = [message["event"] for message in messages]
    assert "orderflow.payment.PaymentReceived" in [event["type"] for event in events]
    for event in events:
        prefix, owner, _ = event["type"].split(".")
        assert prefix == "orderflow"
        assert event["source"].endswith(f"/{owner}")


def test_each_timeline_message_was_caused_by_an_earlier_one(client: FlaskClient) -> None:
    events = [message["event"] for message in timeline(client, place(client)["id"])]

    assert "causationid" not in events[0]  # the HTTP request published it: no cause, no null
    for position, event in enumerate(events[1:], start=1):
        assert event["causationid"] in {earlier["id"] for earlier in events[:position]}
    assert len({event["id"] for event in events}) == len(events)


def test_each_timeline_message_shows_its_receivers_deliveries(client: FlaskClient) -> None:
    messages = timeline(client, place(client, style="choreography")["id"])

    placed = messages[0]
    assert {d["module"] for d in placed["deliveries"]} >= {"payment", "inventory"}
    for message in messages:
        for delivery in message["deliveries"]:
            assert set(DELIVERY_FIELDS) <= set(delivery)
            assert delivery["receiver"].startswith(delivery["module"] + ".")
            assert (delivery["status"], delivery["attempts"], delivery["last_error"]) == (
                "done", 1, None)


def test_a_failed_delivery_shows_its_error_until_a_retry_succeeds(
        client: FlaskClient, app: Flask, clock: ManualClock) -> None:
    order_id = place(client, style="orchestration", payment={"token": "tok_flaky"})["id"]

    failing = [d for m in timeline(client, order_id) for d in m["deliveries"]
               if d["status"] != "done"]
    assert len(failing) == 1
    assert failing[0]["module"] == "payment"
    assert failing[0]["attempts"] == 1
    assert "timed out" in failing[0]["last_error"]

    for _ in range(2):
        clock.advance("PT1M")
        app.extensions["orderflow"].bus.settle()

    assert client.get(f"{ORDERS}/{order_id}").get_json()["status"] == "delivered"
    retried = next(d for m in timeline(client, order_id) for d in m["deliveries"]
                   if d["receiver"] == failing[0]["receiver"])
    assert (retried["status"], retried["attempts"]) == ("done", 3)


def test_a_cancelled_order_ends_its_timeline_with_order_cancelled(client: FlaskClient) -> None:
    order_id = place(client, payment={"token": "tok_decline"})["id"]

    assert short_types(timeline(client, order_id))[-1] == "OrderCancelled"


# --- the catalogue ------------------------------------------------------------------------------
def test_the_catalogue_lists_sku_name_price_and_availability(client: FlaskClient) -> None:
    items = {item["sku"]: item for item in catalogue(client)}

    assert items["sku-1"]["name"] == "Espresso beans, 1 kg"
    assert items["sku-1"]["price"] == "24.90"
    assert items["sku-2"]["price"] == "59.00"
    assert items["sku-1"]["available"] == 100
    assert items["sku-none"]["available"] == 0


def test_putting_a_new_item_answers_201_and_lists_it(client: FlaskClient) -> None:
    response = client.put(f"{CATALOG}/mug-9", json={"name": "Mug", "price": "7.5", "stock": 3},
                          headers=ADMIN_HEADERS)

    assert response.status_code == 201
    assert response.get_json()["price"] == "7.50"
    listed = next(item for item in catalogue(client) if item["sku"] == "mug-9")
    assert (listed["name"], listed["price"], listed["available"]) == ("Mug", "7.50", 3)


def test_putting_a_known_item_answers_200_and_sets_price_and_stock(client: FlaskClient) -> None:
    response = client.put(f"{CATALOG}/sku-1", json={"price": "19.99", "stock": 7},
                          headers=ADMIN_HEADERS)

    assert response.status_code == 200
    listed = next(item for item in catalogue(client) if item["sku"] == "sku-1")
    assert (listed["name"], listed["price"], listed["available"]) == (
        "Espresso beans, 1 kg", "19.99", 7)


def test_a_new_item_can_be_ordered_at_its_price(client: FlaskClient) -> None:
    client.put(f"{CATALOG}/mug-9", json={"price": "7.50", "stock": 3}, headers=ADMIN_HEADERS)

    order = place(client, items=[{"sku": "mug-9", "quantity": 2}])

    assert (order["status"], order["total"]) == ("delivered", "15.00")
    assert available(client, "mug-9") == 1


@pytest.mark.parametrize("body", [
    {"price": "1.234", "stock": 1}, {"price": "-1", "stock": 1}, {"price": "abc", "stock": 1},
    {"price": "1.00", "stock": -1}, {"price": "1.00", "stock": "5"}, {"price": "1.00"},
    {"stock": 5}, {"price": "1.00", "stock": 1, "colour": "red"}, {"price": "1.00", "stock": 1.5},
])
def test_a_bad_catalogue_entry_is_a_422_and_changes_nothing(
        client: FlaskClient, nothing_written: Callable[[], None], body: dict[str, Any]) -> None:
    response = client.put(f"{CATALOG}/sku-1", json=body, headers=ADMIN_HEADERS)

    assert places(error_of(response, 422))[0].startswith("body")
    nothing_written()


def test_a_bad_sku_in_the_path_is_a_422(client: FlaskClient,
                                        nothing_written: Callable[[], None]) -> None:
    response = client.put(f"{CATALOG}/bad sku!", json={"price": "1.00", "stock": 1},
                          headers=ADMIN_HEADERS)

    assert places(error_of(response, 422)) == ["path.sku"]
    nothing_written()


# --- admin auth ---------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}, {"Authorization": "Bearer"},
                                     {"Authorization": "Bearer "},
                                     {"Authorization": "Basic dGVzdDp0ZXN0"},
                                     {"Authorization": "test-admin-token"}])
def test_an_admin_request_without_a_bearer_token_is_a_401(
        client: FlaskClient, nothing_written: Callable[[], None],
        headers: dict[str, str]) -> None:
    response = client.put(f"{CATALOG}/sku-1", json={"price": "0.01", "stock": 0},
                          headers=headers)

    assert error_of(response, 401)["code"] == "unauthorized"
    nothing_written()


@pytest.mark.parametrize("token", ["wrong", "test-admin-token-but-longer", "TEST-ADMIN-TOKEN"])
def test_an_admin_request_with_a_wrong_token_is_a_403(
        client: FlaskClient, nothing_written: Callable[[], None], token: str) -> None:
    response = client.put(f"{CATALOG}/sku-1", json={"price": "0.01", "stock": 0},
                          headers={"Authorization": f"Bearer {token}"})

    assert error_of(response, 403)["code"] == "forbidden"
    nothing_written()


def test_the_bearer_scheme_is_not_case_sensitive(client: FlaskClient) -> None:
    response = client.put(f"{CATALOG}/sku-1", json={"price": "1.00", "stock": 1},
                          headers={"Authorization": "bearer test-admin-token"})

    assert response.status_code == 200


def test_an_unauthenticated_request_is_refused_before_its_body_is_checked(
        client: FlaskClient, nothing_written: Callable[[], None]) -> None:
    response = client.put(f"{CATALOG}/sku-1", json={"price": "lots"})

    error_of(response, 401)
    nothing_written()


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh instance folder, so that no admin token stored by a developer leaks in."""
    folder = tmp_path / "instance"
    folder.mkdir()
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(folder))
    return folder


@pytest.mark.parametrize("headers", [{}, ADMIN_HEADERS, {"Authorization": "Bearer None"}])
def test_admin_requests_are_a_403_when_no_admin_token_is_configured(
        make_app: Callable[..., Flask], instance: Path, headers: dict[str, str]) -> None:
    client = make_app(admin_token=None).test_client()
    before = catalogue(client)

    response = client.put(f"{CATALOG}/sku-1", json={"price": "0.01", "stock": 0},
                          headers=headers)

    assert error_of(response, 403)["code"] == "admin_disabled"
    assert catalogue(client) == before


def test_the_admin_token_stored_in_the_instance_folder_is_used(
        make_app: Callable[..., Flask], instance: Path) -> None:
    (instance / "admin_token").write_text("stored-token-of-24-chars\n")
    client = make_app(admin_token=None).test_client()

    response = client.put(f"{CATALOG}/sku-1", json={"price": "1.00", "stock": 1},
                          headers={"Authorization": "Bearer stored-token-of-24-chars"})

    assert response.status_code == 200


def test_a_stored_admin_token_too_short_to_be_safe_stops_the_start(
        make_app: Callable[..., Flask], instance: Path) -> None:
    (instance / "admin_token").write_text("x\n")

    with pytest.raises(ConfigError, match="holds an admin token of 1 characters"):
        make_app(admin_token=None)


def test_reading_the_catalogue_needs_no_token(make_app: Callable[..., Flask],
                                              instance: Path) -> None:
    client = make_app(admin_token=None).test_client()

    assert client.get(CATALOG).status_code == 200


# --- wiring, health, OpenAPI --------------------------------------------------------------------
def wiring(client: FlaskClient, style: str) -> dict[str, Any]:
    response = client.get("/api/wiring", query_string={"style": style})
    assert response.status_code == 200
    return response.get_json()["styles"][style]


@pytest.mark.parametrize("style", STYLES)
def test_the_wiring_lists_live_subscriptions(client: FlaskClient, style: str) -> None:
    subscriptions = wiring(client, style)["subscriptions"]

    assert subscriptions
    for row in subscriptions:
        assert {"signal", "kind", "receiver", "module"} <= set(row)
        assert row["signal"].startswith("orderflow.")
    listeners = [row for row in subscriptions if row["receiver"]]
    assert {row["module"] for row in listeners} == {"orders", "payment", "inventory", "shipping",
                                                    "webhooks"}


def test_in_choreography_payment_knows_orders_order_placed(client: FlaskClient) -> None:
    styled = wiring(client, "choreography")

    assert "OrderPlaced" in styled["coupling"]["payment"]["orders"]
    assert any(row["signal"] == "orderflow.orders.OrderPlaced" and row["module"] == "payment"
               for row in styled["subscriptions"])


def test_in_orchestration_payment_knows_no_foreign_type(client: FlaskClient) -> None:
    coupling = wiring(client, "orchestration")["coupling"]

    assert coupling.get("payment", {}) == {}
    assert set(coupling["orders"]) == {"payment", "inventory", "shipping"}


def test_the_wiring_without_a_style_covers_every_style(client: FlaskClient) -> None:
    response = client.get("/api/wiring")

    assert set(response.get_json()["styles"]) == set(STYLES)


def test_the_wiring_of_an_unknown_style_is_a_422(client: FlaskClient) -> None:
    response = client.get("/api/wiring", query_string={"style": "anarchy"})

    assert places(error_of(response, 422)) == ["query.style"]


def test_health_is_ok(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def openapi(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_openapi_is_a_3_1_document_with_title_and_version(client: FlaskClient) -> None:
    document = openapi(client)

    assert document["openapi"].startswith("3.1.")
    assert document["info"]["title"] == "orderflow"
    assert document["info"]["version"]


def test_openapi_lists_every_path_and_method(client: FlaskClient) -> None:
    paths = openapi(client)["paths"]

    expected = {"/api/orders": {"get", "post"}, "/api/orders/{order_id}": {"get"},
                "/api/orders/{order_id}/timeline": {"get"},
                "/api/orders/{order_id}/events": {"get"},
                "/api/orders/{order_id}/events/{event_id}": {"get"}, "/api/catalog": {"get"},
                "/api/catalog/{sku}": {"put"}, "/api/wiring": {"get"},
                "/api/asyncapi.json": {"get"}, "/healthz": {"get"}}
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path


def test_openapi_operations_have_responses_and_unique_ids(client: FlaskClient) -> None:
    operations = [operation for item in openapi(client)["paths"].values()
                  for operation in item.values()]

    assert all(operation["responses"] for operation in operations)
    ids = [operation["operationId"] for operation in operations]
    assert len(ids) == len(set(ids))


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if "$ref" in node else []
        return own + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


def test_every_openapi_reference_resolves(client: FlaskClient) -> None:
    document = openapi(client)

    for ref in refs(document):
        assert ref.startswith("#/"), ref
        target: Any = document
        for step in ref[2:].split("/"):
            target = target[step]
        assert isinstance(target, dict), ref


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]


def body_schema(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    operation = document["paths"][path][method]
    return resolve(document, operation["requestBody"]["content"]["application/json"]["schema"])


def test_openapi_describes_the_order_body_and_its_lines(client: FlaskClient) -> None:
    document = openapi(client)

    order = body_schema(document, "/api/orders", "post")
    line = resolve(document, order["properties"]["items"]["items"])
    assert set(order["required"]) == {"customer", "items", "payment"}
    assert set(line["properties"]) == {"sku", "quantity"}


def test_openapi_describes_the_catalogue_entry(client: FlaskClient) -> None:
    entry = body_schema(openapi(client), "/api/catalog/{sku}", "put")

    assert set(entry["properties"]) == {"name", "price", "stock"}


def test_listing_orders_is_for_operators_only(client: FlaskClient) -> None:
    """Orders carry names and addresses: a shopper reads one order by its id, never the list."""
    assert client.get(ORDERS).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert client.get(ORDERS, headers=wrong).status_code == 403


def test_the_timeline_never_shows_the_payment_token(client: FlaskClient) -> None:
    order = place(client)
    timeline = client.get(f"{ORDERS}/{order['id']}/timeline").get_data(as_text=True)
    assert "tok_ok" not in timeline
