"""``Idempotency-Key`` on ``POST /api/orders``: a retry gets the first answer and never a second
order, also when the retries race; another body with the same key is refused; keys expire."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from app.bus.log import MessageRecord
from app.clock import ManualClock
from app.config import ConfigError, from_environment
from app.modules.orders import idempotency
from app.modules.orders.models import IdempotencyKey, Order
from tests.conftest import on_every_database
from tests.e2e.test_api import order_body
from tests.shop import error_of, places

ORDERS = "/api/orders"
PLACED = "orderflow.orders.OrderPlaced"
RACERS = 8


def post(client: FlaskClient, body: Any, key: str | None, *, raw: str | None = None
         ) -> TestResponse:
    headers = {} if key is None else {"Idempotency-Key": key}
    return client.post(ORDERS, data=raw if raw is not None else json.dumps(body),
                       content_type="application/json", headers=headers)


def counts(app: Flask) -> tuple[int, int, int]:
    """(orders, OrderPlaced messages, remembered keys)."""
    with app.extensions["orderflow"].bus.db.reading() as session:
        orders = session.scalar(select(func.count()).select_from(Order))
        placed = session.scalar(select(func.count()).select_from(MessageRecord)
                                .where(MessageRecord.type == PLACED))
        keys = session.scalar(select(func.count()).select_from(IdempotencyKey))
    return orders, placed, keys


# --- on both databases ------------------------------------------------------------------------
@on_every_database
def test_a_replay_gets_the_first_answer_and_makes_no_second_order(client: FlaskClient,
                                                                   app: Flask) -> None:
    first = post(client, order_body(), "key-replay-1")
    again = post(client, None, "key-replay-1",  # other spacing and key order: the same request
                 raw='{ "payment": {"token": "tok_ok"}, "items": [{"quantity": 2, "sku": "sku-1"}],'
                     ' "customer": {"name": "Ada Lovelace", "id": "c-1", '
                     '"address": "1 Main Street"} }')
    assert first.status_code == again.status_code == 202
    assert again.get_json() == first.get_json()
    assert again.data == first.data
    assert again.headers["Location"] == first.headers["Location"] \
        == f"{ORDERS}/{first.get_json()['id']}"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert counts(app) == (1, 1, 1)


@on_every_database
def test_the_same_key_with_another_body_is_a_422_and_writes_nothing(client: FlaskClient,
                                                                    app: Flask) -> None:
    first = post(client, order_body(), "key-reused")
    other = post(client, order_body(items=[{"sku": "sku-1", "quantity": 3}]), "key-reused")
    assert first.status_code == 202
    error = error_of(other, 422)
    assert error["code"] == "idempotency_key_reused"
    assert "different request" in error["detail"] and "Idempotency-Key" in error["detail"]
    assert places(error) == ["header.Idempotency-Key"]
    assert counts(app) == (1, 1, 1)


@on_every_database
def test_a_key_that_lost_the_race_answers_from_the_winners_row(
        client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """As on PostgreSQL when two transactions both miss the key: the loser's insert of the key
    fails, its order rolls back (no OrderPlaced), and it answers with the winner's order."""
    first = post(client, order_body(), "key-lost-race")
    monkeypatch.setattr(idempotency, "lookup", lambda *args: None)  # both 'missed' the key
    loser = post(client, order_body(), "key-lost-race")
    assert loser.status_code == 202
    assert loser.data == first.data
    assert loser.headers["Location"] == first.headers["Location"]
    assert counts(app) == (1, 1, 1)


@on_every_database
def test_a_key_that_lost_the_race_to_another_body_is_a_422(
        client: FlaskClient, app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    post(client, order_body(), "key-lost-other")
    monkeypatch.setattr(idempotency, "lookup", lambda *args: None)
    loser = post(client, order_body(payment={"token": "tok_decline"}), "key-lost-other")
    assert loser.status_code == 422
    assert loser.get_json()["code"] == "idempotency_key_reused"
    assert counts(app) == (1, 1, 1)


@on_every_database
def test_racing_retries_with_one_key_make_one_order(make_app: Callable[..., Flask]) -> None:
    """Eight clients send the same key and body at the same moment (background dispatch, not
    started: only the intake races): one order, and every answer names it."""
    app = make_app(dispatch="background")
    start = threading.Barrier(RACERS)
    answers: list[TestResponse] = []

    def race() -> None:
        client = app.test_client()
        start.wait()
        answers.append(post(client, order_body(), "key-race"))

    racers = [threading.Thread(target=race) for _ in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=60)

    assert [answer.status_code for answer in answers] == [202] * RACERS
    assert len({answer.get_json()["id"] for answer in answers}) == 1
    assert len({answer.data for answer in answers}) == 1
    assert sum("Idempotent-Replayed" not in answer.headers for answer in answers) == 1
    assert counts(app) == (1, 1, 1)


@on_every_database
def test_an_expired_key_makes_a_new_order(client: FlaskClient, app: Flask,
                                          clock: ManualClock) -> None:
    first = post(client, order_body(), "key-expiring")
    clock.advance("PT23H59M")
    assert post(client, order_body(), "key-expiring").data == first.data  # still remembered
    clock.advance("PT1M")  # P1D after the first request
    later = post(client, order_body(), "key-expiring")
    assert later.status_code == 202
    assert later.get_json()["id"] != first.get_json()["id"]
    assert "Idempotent-Replayed" not in later.headers
    assert counts(app) == (2, 2, 1)


@on_every_database
def test_expired_keys_are_pruned_when_a_keyed_order_comes(client: FlaskClient, app: Flask,
                                                          clock: ManualClock) -> None:
    for number in range(3):
        post(client, order_body(), f"key-old-{number}")
    clock.advance("P2D")
    post(client, order_body(), "key-new")
    with app.extensions["orderflow"].bus.db.reading() as session:
        assert list(session.scalars(select(IdempotencyKey.key))) == ["key-new"]


# --- the header itself (SQLite is enough) -----------------------------------------------------
@pytest.mark.parametrize(("value", "problem"), [
    ("", "is empty"), ("   ", "is empty"), ('""', "is empty"),
    ("k" * 256, "longer than 255"), ("caf\u00e9", "printable ASCII"),
    ("tab\there", "printable ASCII")])
def test_a_malformed_key_is_a_400_naming_the_header(client: FlaskClient, app: Flask,
                                                    value: str, problem: str) -> None:
    answer = post(client, order_body(), value)
    error = error_of(answer, 400)
    assert error["code"] == "invalid_idempotency_key"
    assert "Idempotency-Key" in error["detail"] and problem in error["detail"]
    assert counts(app) == (0, 0, 0)


def test_a_key_of_255_characters_and_a_quoted_key_are_accepted(client: FlaskClient,
                                                               app: Flask) -> None:
    assert post(client, order_body(), "k" * 255).status_code == 202
    bare = post(client, order_body(), "abc-123")
    assert post(client, order_body(), '"abc-123"').data == bare.data  # the draft's sf-string
    assert counts(app)[0] == 2


def test_without_a_key_every_post_is_a_new_order(client: FlaskClient, app: Flask) -> None:
    post(client, order_body(), None)
    post(client, order_body(), None)
    assert counts(app) == (2, 2, 0)


def test_a_refused_order_does_not_take_the_key(client: FlaskClient, app: Flask) -> None:
    refused = post(client, order_body(items=[{"sku": "sku-nope", "quantity": 1}]), "key-retry")
    assert refused.status_code == 422
    assert counts(app) == (0, 0, 0)
    assert post(client, order_body(), "key-retry").status_code == 202


def test_the_openapi_document_declares_the_header(client: FlaskClient) -> None:
    spec = client.get("/api/openapi.json").get_json()
    parameters = spec["paths"][ORDERS]["post"]["parameters"]
    header = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert header["in"] == "header"
    assert not header.get("required", False)
    assert "second order" in header.get("description", "") + json.dumps(header.get("schema"))


# --- the setting ------------------------------------------------------------------------------
def test_keys_are_remembered_for_a_day_unless_configured() -> None:
    assert from_environment({}).idempotency_ttl == timedelta(days=1)
    assert from_environment({"ORDERFLOW_IDEMPOTENCY_TTL": "PT12H"}).idempotency_ttl \
        == timedelta(hours=12)


@pytest.mark.parametrize("value", ["PT30S", "P31D", "one day", "PT0S"])
def test_a_bad_idempotency_ttl_names_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="ORDERFLOW_IDEMPOTENCY_TTL"):
        from_environment({"ORDERFLOW_IDEMPOTENCY_TTL": value})
