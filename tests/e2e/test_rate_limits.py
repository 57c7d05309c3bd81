"""Per-client limits, on both databases: guessing the admin token (through the login form or
as a Bearer token) is slowed to a few tries, order intake and admin writes are bounded; a
client over a limit gets 429 with Retry-After and writes nothing, other clients go on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import ADMIN, ADMIN_HEADERS, on_every_database
from tests.integration.test_dashboard import Dashboard

pytestmark = on_every_database

ORDER = {"customer": {"id": "c-1", "name": "Ada", "address": "1 Main Street"},
         "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_ok"}}
ITEM = {"name": "New", "price": "1.00", "stock": 1}
WRONG = {"Authorization": "Bearer not-the-admin-token-at-all"}


def client_at(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def assert_too_many(response: Any) -> None:
    assert response.status_code == 429, (response.status_code, response.get_data(as_text=True))
    assert response.get_json()["code"] == "too_many_requests"
    assert 1 <= int(response.headers["Retry-After"]) <= 61  # the window, rounded up


def orders_count(app: Flask) -> int:
    listing = client_at(app, "10.9.9.9").get("/api/orders?limit=200", headers=ADMIN_HEADERS)
    return len(listing.get_json()["items"])


def test_wrong_logins_past_the_limit_are_refused_and_another_client_still_logs_in(
        make_app: Callable[..., Flask]) -> None:
    app = make_app(rate_limit_login="3 per minute")
    guesser, operator = Dashboard(app), Dashboard(app)
    guesser.client.environ_base["REMOTE_ADDR"] = "10.0.0.66"
    operator.client.environ_base["REMOTE_ADDR"] = "10.0.0.7"

    answers = [guesser.login(token=f"guess-{n}").status_code for n in range(3)]
    blocked = guesser.client.post("/login", data={"token": ADMIN})  # even the right one

    assert answers == [401, 401, 401]
    assert_too_many(blocked)
    assert operator.login().status_code == 303


def test_wrong_bearer_tokens_past_the_limit_are_refused_before_any_work(
        make_app: Callable[..., Flask]) -> None:
    app = make_app(rate_limit_login="3 per minute")
    guesser, admin = client_at(app, "10.0.0.66"), client_at(app, "10.0.0.7")

    answers = [guesser.put(f"/api/catalog/x-{n}", json=ITEM, headers=WRONG).status_code
               for n in range(3)]
    blocked = guesser.get("/api/orders", headers=ADMIN_HEADERS)

    assert answers == [403, 403, 403]
    assert_too_many(blocked)
    assert admin.get("/api/orders", headers=ADMIN_HEADERS).status_code == 200


def test_right_credentials_do_not_count_as_failures(make_app: Callable[..., Flask]) -> None:
    app = make_app(rate_limit_login="3 per minute")
    admin = client_at(app, "10.0.0.7")

    answers = {admin.get("/api/orders", headers=ADMIN_HEADERS).status_code for _ in range(10)}

    assert answers == {200}


def test_intake_past_the_limit_is_a_429_that_places_nothing(
        make_app: Callable[..., Flask]) -> None:
    app = make_app(rate_limit_intake="3 per minute")
    storefront, other = client_at(app, "10.0.0.5"), client_at(app, "10.0.0.6")

    placed = [storefront.post("/api/orders", json=ORDER).status_code for _ in range(3)]
    refused = storefront.post("/api/orders", json=ORDER)

    assert placed == [202, 202, 202]
    assert_too_many(refused)
    assert orders_count(app) == 3
    assert other.post("/api/orders", json=ORDER).status_code == 202


def test_admin_writes_share_one_limit_per_client(make_app: Callable[..., Flask]) -> None:
    app = make_app(rate_limit_admin="2 per minute")
    admin = client_at(app, "10.0.0.7")
    writes = [admin.put(f"/api/catalog/sku-new-{n}", json=ITEM, headers=ADMIN_HEADERS)
              for n in range(2)]

    refused = admin.post("/api/clock/advance", json={"by": "PT1M"}, headers=ADMIN_HEADERS)

    assert [w.status_code < 400 for w in writes] == [True, True], [w.get_json() for w in writes]
    assert_too_many(refused)
    assert admin.get("/api/orders", headers=ADMIN_HEADERS).status_code == 200  # reads go on


def test_with_intake_off_a_burst_is_all_placed(make_app: Callable[..., Flask]) -> None:
    app = make_app(rate_limit_intake="off", rate_limit_login="1 per minute")
    storefront = client_at(app, "10.0.0.5")

    answers = {storefront.post("/api/orders", json=ORDER).status_code for _ in range(5)}

    assert answers == {202}


def test_a_locked_out_address_still_passes_the_health_probes(
        make_app: Callable[..., Flask]) -> None:
    app = make_app(rate_limit_login="2 per minute")
    guesser = client_at(app, "10.0.0.66")
    for _ in range(2):
        guesser.get("/api/orders", headers=WRONG)

    assert_too_many(guesser.get("/api/orders", headers=ADMIN_HEADERS))
    assert guesser.get("/healthz").status_code == 200
    assert guesser.get("/readyz").status_code in (200, 503)  # what it says, not a 429
