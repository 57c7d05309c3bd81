"""Input no real client sends, on both databases: a NUL character (PostgreSQL cannot store one),
numbers past the databases' integers, digits that are not ASCII. Each is a clear 4xx naming where,
never a 500, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import ADMIN_HEADERS, on_every_database

pytestmark = on_every_database

ORDER = {"customer": {"id": "c-1", "name": "Ada", "address": "1 Main Street"},
         "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_ok"}}


def orders_count(client: FlaskClient) -> int:
    return len(client.get("/api/orders?limit=200", headers=ADMIN_HEADERS).get_json()["items"])


@pytest.mark.parametrize("path", ["/api/orders/%00abc", "/api/orders/abc%00/timeline",
                                  "/orders/%00abc", "/orders/abc%00/live"])
def test_a_nul_in_a_path_is_a_404(client: FlaskClient, path: str) -> None:
    response = client.get(path, headers=ADMIN_HEADERS)
    assert response.status_code == 404


def test_a_nul_in_a_query_is_a_400_naming_it(client: FlaskClient) -> None:
    response = client.get("/api/tasks?order_id=a%00b", headers=ADMIN_HEADERS)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"][0]["where"] == "query.order_id"


@pytest.mark.parametrize("where", ["name", "address"])
def test_a_nul_in_a_json_body_is_a_422_and_writes_nothing(client: FlaskClient,
                                                          where: str) -> None:
    body: dict[str, Any] = {**ORDER, "customer": {**ORDER["customer"], where: "Ada\x00"}}
    response = client.post("/api/orders", json=body)
    assert response.status_code == 422
    assert orders_count(client) == 0


@pytest.mark.parametrize("number", ["99999999999999999999", "9223372036854775808"])
def test_a_dead_letter_id_past_the_largest_integer_names_nothing(client: FlaskClient,
                                                                  number: str) -> None:
    retry = client.post(f"/api/deadletters/{number}/retry", headers=ADMIN_HEADERS)
    listing = client.get(f"/api/deadletters?after={number}", headers=ADMIN_HEADERS)
    assert retry.status_code == 404 and retry.get_json()["error"]["code"] == (
        "deadletter_not_found")
    assert listing.status_code == 422
    assert listing.get_json()["error"]["details"][0]["where"] == "query.after"
