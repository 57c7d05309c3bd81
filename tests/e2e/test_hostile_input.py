"""Input no real client sends, on both databases: a NUL character (PostgreSQL cannot store one),
numbers past the databases' integers, digits that are not ASCII. Each is a clear 4xx naming where,
never a 500, and writes nothing."""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import ADMIN_HEADERS, on_every_database
from tests.shop import places

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
    assert places(response.get_json())[0] == "query.order_id"


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
    assert retry.status_code == 404 and retry.get_json()["code"] == (
        "deadletter_not_found")
    assert listing.status_code == 422
    assert places(listing.get_json())[0] == "query.after"


def api_write_routes(client: FlaskClient) -> list[tuple[str, str]]:
    """Every /api/ route whose view takes a JSON body, with its path parameters filled in."""
    views = client.application.view_functions
    return [(method, re.sub(r"<[^>]+>", "1", rule.rule))
            for rule in client.application.url_map.iter_rules() if rule.rule.startswith("/api/")
            and "body" in getattr(inspect.unwrap(views[rule.endpoint]), "__annotations__", {})
            for method in sorted((rule.methods or set()) & {"POST", "PUT", "PATCH"})]


@pytest.mark.parametrize("depth", [33, 10_000])
def test_a_body_nested_too_deep_is_a_400_on_every_api_write_route(client: FlaskClient,
                                                                    depth: int) -> None:
    body = "[" * depth + "]" * depth
    routes = api_write_routes(client)
    assert ("POST", "/api/orders") in routes
    for method, path in routes:
        response = client.open(path, method=method, data=body, headers={
            **ADMIN_HEADERS, "Content-Type": "application/json"})
        assert response.status_code == 400, (method, path, response.status_code)
        assert "nests deeper than 32" in response.get_json()["detail"]
    assert orders_count(client) == 0


def test_a_body_as_deep_as_allowed_is_parsed_as_usual(client: FlaskClient) -> None:
    nested: Any = "x"
    for _ in range(30):
        nested = {"n": nested}
    response = client.post("/api/orders", json={**ORDER, "customer": {**ORDER["customer"],
                                                                        "extra": nested}})
    assert response.status_code != 400, response.get_json()
    assert response.status_code < 500


def test_brackets_inside_strings_do_not_count_as_nesting(client: FlaskClient) -> None:
    response = client.post("/api/orders", json={**ORDER, "customer": {
        **ORDER["customer"], "name": "[{" * 40 + '"\\'}})
    assert response.status_code == 202, response.get_json()


def test_a_method_a_route_does_not_take_is_a_405_that_says_which_it_does(
        client: FlaskClient) -> None:
    response = client.delete("/api/orders")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    assert response.get_json()["code"] == "method_not_allowed"
