"""`orderflow fixture --orders N`: N realistic orders, copied from real ones played through the
bus, each readable through the API like any other order."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text

from app import create_app, schema
from app.config import Settings
from tests.conftest import ADMIN, ADMIN_HEADERS, STYLES, on_every_database

NEW_ORDER = {"customer": {"id": "c-1", "name": "Ada", "address": "1 Main Street"},
             "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_ok"}}


@pytest.fixture
def empty_app(database_url: str) -> Iterator[Flask]:
    """The app on an empty, migrated database."""
    schema.upgrade(database_url)
    app = create_app(Settings(database_url=database_url, dispatch="inline", admin_token=ADMIN))
    yield app
    app.extensions["orderflow"].close()


def fixture(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["orderflow", "fixture", *args])


def all_orders(app: Flask) -> list[dict[str, Any]]:
    client, orders, cursor = app.test_client(), [], None
    while True:
        query = f"/api/orders?limit=200{f'&cursor={cursor}' if cursor else ''}"
        page = client.get(query, headers=ADMIN_HEADERS).get_json()
        orders += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return orders


@on_every_database
def test_it_makes_exactly_n_orders_of_every_kind_each_with_a_readable_timeline(
        empty_app: Flask) -> None:
    result = fixture(empty_app, "--orders", "300", "--days", "3", "--seed", "5")

    assert result.exit_code == 0, result.output
    assert "made 300 orders" in result.output
    orders = all_orders(empty_app)
    assert len(orders) == 300
    assert len({order["id"] for order in orders}) == 300
    statuses = Counter(order["status"] for order in orders)
    assert {"delivered", "cancelled", "payment_clarification"} <= set(statuses)
    assert statuses["delivered"] > statuses["cancelled"] > statuses["payment_clarification"]
    assert {order["style"] for order in orders} == set(STYLES)
    assert {order["flow"] for order in orders} == {"sequential", "parallel"}
    assert any(order["stuck"] for order in orders)
    client = empty_app.test_client()
    for order in orders:
        messages = client.get(f"/api/orders/{order['id']}/timeline").get_json()["messages"]
        assert messages[0]["event"]["type"] == "orderflow.orders.OrderPlaced"
        assert {m["event"]["flowid"] for m in messages} == {order["id"]}
        assert client.get(f"/api/orders/{order['id']}").get_json()["status"] == order["status"]
    placed = client.post("/api/orders", json=NEW_ORDER)  # numbering goes on after the copies
    assert placed.status_code == 202, placed.get_json()
    assert all_orders(empty_app)[0]["id"] == placed.get_json()["id"]


def test_newest_orders_are_last_and_their_times_fit_their_story(empty_app: Flask) -> None:
    assert fixture(empty_app, "--orders", "200", "--seed", "3").exit_code == 0

    orders = all_orders(empty_app)  # newest first, by the order of insertion
    created = [moment(order["created_at"]) for order in orders]
    assert created == sorted(created, reverse=True)
    now, client = datetime.now(UTC), empty_app.test_client()
    assert created[-1] < now - timedelta(days=30)  # spread over the last 90 days
    for order in orders:
        detail = client.get(f"/api/orders/{order['id']}").get_json()
        pending = [d for d in detail["deadlines"] if d["status"] == "pending"]
        assert all(moment(d["due_at"]) > now for d in pending), detail["deadlines"]
        messages = client.get(f"/api/orders/{order['id']}/timeline").get_json()["messages"]
        times = [moment(m["event"]["time"]) for m in messages]
        assert moment(order["created_at"]) <= min(times) <= max(times) <= now


def moment(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def test_copies_share_no_ids_and_every_reference_stays_inside_its_order(
        empty_app: Flask, database_url: str) -> None:
    assert fixture(empty_app, "--orders", "150", "--seed", "4").exit_code == 0

    engine = create_engine(database_url)
    with engine.connect() as connection:
        def count(sql: str) -> int:
            return connection.execute(text(sql)).scalar_one()

        assert count("SELECT count(*) FROM bus_delivery d JOIN bus_message m "
                     "ON m.seq = d.message_seq WHERE m.id != d.message_id "
                     "OR m.flowid != d.flowid") == 0
        assert count("SELECT count(*) FROM bus_message m JOIN bus_message cause "
                     "ON cause.id = m.causationid WHERE cause.flowid != m.flowid") == 0
        assert count("SELECT count(*) FROM bus_message WHERE causationid IS NOT NULL "
                     "AND causationid NOT IN (SELECT id FROM bus_message)") == 0
        assert count("SELECT count(*) FROM orders_order o JOIN payment_payment p "
                     "ON p.id = o.payment_id WHERE p.order_id != o.id") == 0
        assert count("SELECT count(DISTINCT customer_id) FROM orders_order") > 50
        assert count("SELECT count(*) FROM bus_message WHERE data LIKE '%Template%'") == 0
    engine.dispose()


def test_it_refuses_a_database_with_orders_unless_told_to_append(empty_app: Flask) -> None:
    assert fixture(empty_app, "--orders", "20").exit_code == 0

    refused = fixture(empty_app, "--orders", "10")
    assert refused.exit_code == 2
    assert "already has 20 orders" in refused.output
    assert "--append" in refused.output
    assert len(all_orders(empty_app)) == 20

    appended = fixture(empty_app, "--orders", "10", "--append")
    assert appended.exit_code == 0, appended.output
    orders = all_orders(empty_app)
    assert len(orders) == 30
    assert min(o["created_at"] for o in orders[:10]) >= max(o["created_at"] for o in orders[10:])


@pytest.mark.parametrize("arguments", [("--orders", "0"), ("--orders", "-5"),
                                       ("--orders", "many"), (),
                                       ("--orders", "5", "--days", "0")])
def test_a_bad_count_is_a_usage_error_naming_the_option(empty_app: Flask,
                                                        arguments: tuple[str, ...]) -> None:
    result = fixture(empty_app, *arguments)

    assert result.exit_code == 2
    assert "--orders" in result.output or "--days" in result.output
    assert "made" not in result.output
