"""The operator's HTTP API through Flask's test client: clarification tasks, dead letters, the
manual clock, invoices, an order's payments, and what the order view says about its flow,
deadlines and whether it is stuck. Dispatch is inline and the clock only moves when told, so
every answer is settled and every time is exact; a refused request writes nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from app.clock import ManualClock, SystemClock
from tests.conftest import ADMIN_HEADERS, build_app
from tests.shop import error_of, places

ORDERS = "/api/orders"
TASKS = "/api/tasks"
DEADLETTERS = "/api/deadletters"
CLOCK = "/api/clock"
INVOICES = "/api/invoices"
PAYMENTS = "/api/payments"
START = "2026-01-05T09:00:00+00:00"  # where the ManualClock starts
MAX_AUTOMATIC_ATTEMPTS = 5  # ORDERFLOW_RETRY_MAX_ATTEMPTS' default
NO_TOKEN: dict[str, str] = {}
WRONG_TOKEN = {"Authorization": "Bearer not-the-token"}
STRANGERS = pytest.mark.parametrize(("headers", "status"), [(NO_TOKEN, 401), (WRONG_TOKEN, 403)])


# --- helpers ------------------------------------------------------------------------------------
def order_body(**changes: Any) -> dict[str, Any]:
    """A valid order for two espresso bags (49.80); ``changes`` replace top-level fields."""
    body: dict[str, Any] = {
        "customer": {"id": "c-1", "name": "Ada Lovelace", "address": "1 Main Street"},
        "items": [{"sku": "sku-1", "quantity": 2}],
        "payment": {"token": "tok_ok"},
    }
    body.update(changes)
    return body


def place(client: FlaskClient, **changes: Any) -> dict[str, Any]:
    response = client.post(ORDERS, json=order_body(**changes))
    assert response.status_code == 202, response.get_json()
    return response.get_json()


def order(client: FlaskClient, order_id: str) -> dict[str, Any]:
    response = client.get(f"{ORDERS}/{order_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ended(client: FlaskClient, order_id: str) -> tuple[str, str | None]:
    view = order(client, order_id)
    return view["status"], view["reason"]


def tasks(client: FlaskClient, status: str = "open", **query: Any) -> dict[str, Any]:
    response = client.get(TASKS, headers=ADMIN_HEADERS, query_string={"status": status, **query})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def task_of(client: FlaskClient, order_id: str, status: str = "open") -> dict[str, Any]:
    (task,) = [task for task in tasks(client, status, limit=200)["items"]
               if task["order_id"] == order_id]
    return task


def complete(client: FlaskClient, task_id: str, body: Any,
             headers: dict[str, str] = ADMIN_HEADERS) -> TestResponse:
    return client.post(f"{TASKS}/{task_id}/complete", json=body, headers=headers)


def dead_letters(client: FlaskClient, **query: Any) -> dict[str, Any]:
    response = client.get(DEADLETTERS, headers=ADMIN_HEADERS, query_string=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def now(client: FlaskClient) -> str:
    response = client.get(CLOCK)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["now"]


def advance(client: FlaskClient, by: Any, headers: dict[str, str] = ADMIN_HEADERS
            ) -> TestResponse:
    return client.post(f"{CLOCK}/advance", json={"by": by}, headers=headers)


def invoices(client: FlaskClient, order_id: str) -> list[dict[str, Any]]:
    response = client.get(INVOICES, query_string={"order_id": order_id})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def pay(client: FlaskClient, invoice_id: str,
        headers: dict[str, str] = ADMIN_HEADERS) -> TestResponse:
    return client.post(f"{INVOICES}/{invoice_id}/pay", headers=headers)


def payments(client: FlaskClient, order_id: str) -> dict[str, Any]:
    response = client.get(PAYMENTS, query_string={"order_id": order_id})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def deadline(view: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [d for d in view["deadlines"] if d["name"] == name]
    return found


# --- fixtures -----------------------------------------------------------------------------------
@pytest.fixture
def waiting(client: FlaskClient) -> dict[str, Any]:
    """An order whose payment needs a person, and its open clarification task."""
    placed = place(client, payment={"token": "tok_clarify"})
    return {"order_id": placed["id"], "task": task_of(client, placed["id"])}


@pytest.fixture
def settle(app: Flask) -> Callable[[], int]:
    return app.extensions["orderflow"].bus.settle  # type: ignore[no-any-return]


def park(client: FlaskClient, clock: ManualClock, settle: Callable[[], int],
         order_id: str) -> dict[str, Any]:
    """Let the retries run out (an hour at a time) until a delivery is parked; the order's
    view. (After the first silent hour the order is already stuck, but not yet parked.)"""
    for _ in range(2 * MAX_AUTOMATIC_ATTEMPTS):
        view = order(client, order_id)
        if view["stuck"] and view["stuck"]["deadletters"]:
            return view
        clock.advance("PT1H")
        settle()
    raise AssertionError(f"{order_id} never got stuck")


@pytest.fixture
def stuck(client: FlaskClient, clock: ManualClock, settle: Callable[[], int]) -> dict[str, Any]:
    """An order whose payment provider is down for every automatic attempt: parked."""
    placed = place(client, style="orchestration", payment={"token": "tok_outage"})
    return park(client, clock, settle, placed["id"])


@pytest.fixture
def vip(client: FlaskClient) -> dict[str, Any]:
    """A delivered VIP order (pays later) and its one invoice."""
    customer = {"id": "c-9", "name": "Grace Hopper", "address": "2 Side St", "vip": True}
    placed = place(client, customer=customer, items=[{"sku": "sku-2", "quantity": 1}])
    (invoice,) = invoices(client, placed["id"])
    return {"order_id": placed["id"], "invoice": invoice}


@pytest.fixture
def system_clock_client(database_url: str) -> Iterator[FlaskClient]:
    app = build_app(database_url, clock=SystemClock())  # type: ignore[arg-type]
    yield app.test_client()
    app.extensions["orderflow"].close()


# --- every operator endpoint needs the admin token ----------------------------------------------
OPERATOR_ENDPOINTS = [
    ("get", TASKS, None), ("post", f"{TASKS}/task_x/complete", {"outcome": "approved"}),
    ("get", DEADLETTERS, None), ("post", f"{DEADLETTERS}/1/retry", None),
    ("post", f"{CLOCK}/advance", {"by": "P1D"}), ("post", f"{INVOICES}/inv_x/pay", None),
]


@STRANGERS
@pytest.mark.parametrize(("method", "path", "body"), OPERATOR_ENDPOINTS)
def test_operator_endpoints_refuse_a_missing_or_wrong_token(
        client: FlaskClient, headers: dict[str, str], status: int, method: str, path: str,
        body: Any) -> None:
    response = getattr(client, method)(path, json=body, headers=headers)

    assert error_of(response, status)["code"] == {401: "unauthorized", 403: "forbidden"}[status]


def test_reading_invoices_and_payments_needs_no_token(client: FlaskClient) -> None:
    assert client.get(INVOICES, query_string={"order_id": "ord_x"}).status_code == 200
    assert client.get(PAYMENTS, query_string={"order_id": "ord_x"}).status_code == 200


# --- clarification tasks ------------------------------------------------------------------------
def test_an_order_that_needs_clarification_waits_with_one_open_task(
        client: FlaskClient, waiting: dict[str, Any]) -> None:
    task = waiting["task"]

    assert ended(client, waiting["order_id"]) == ("payment_clarification", None)
    assert task["id"] and task["status"] == "open"
    assert task["order_id"] == waiting["order_id"]
    assert task["amount"] == "49.80"
    assert task["customer"] == {"id": "c-1", "name": "Ada Lovelace"}
    assert (task["opened_at"], task["age_seconds"]) == (START, 0)


def test_a_task_ages_with_the_clock(client: FlaskClient, clock: ManualClock,
                                    waiting: dict[str, Any]) -> None:
    clock.advance("PT2H30M")

    task = task_of(client, waiting["order_id"])

    assert (task["opened_at"], task["age_seconds"]) == (START, 9000)


def test_a_closed_task_stops_ageing(client: FlaskClient, clock: ManualClock,
                                    waiting: dict[str, Any]) -> None:
    clock.advance("PT1H")
    complete(client, waiting["task"]["id"], {"outcome": "approved"})
    clock.advance("P30D")

    (task,) = tasks(client, status="approved")["items"]

    assert task["age_seconds"] == 3600


def test_an_order_paid_at_once_opens_no_task(client: FlaskClient) -> None:
    place(client)

    assert tasks(client) == {"items": [], "next_cursor": None}


def test_the_task_list_shows_open_tasks_unless_asked_for_another_status(
        client: FlaskClient) -> None:
    ids = [place(client, payment={"token": "tok_clarify"})["id"] for _ in range(3)]
    complete(client, task_of(client, ids[0])["id"], {"outcome": "approved"})
    complete(client, task_of(client, ids[1])["id"], {"outcome": "declined"})

    def listed(status: str) -> list[str]:
        return [task["order_id"] for task in tasks(client, status)["items"]]

    response = client.get(TASKS, headers=ADMIN_HEADERS)
    assert [task["order_id"] for task in response.get_json()["items"]] == [ids[2]]
    assert listed("approved") == [ids[0]]
    assert listed("declined") == [ids[1]]
    assert listed("cancelled") == []
    one = tasks(client, "approved", order_id=ids[0])["items"]
    assert [task["order_id"] for task in one] == [ids[0]]
    assert tasks(client, "approved", order_id=ids[1])["items"] == []


def test_walking_the_task_pages_yields_every_task_once_oldest_first(
        client: FlaskClient, clock: ManualClock) -> None:
    placed = []
    for minutes in (0, 0, 5, 0, 0, 5, 0):  # several tasks open at the very same moment
        clock.advance(timedelta(minutes=minutes))
        placed.append(place(client, payment={"token": "tok_clarify"})["id"])

    pages, cursor = [], None
    while True:
        page = tasks(client, limit=3, **({"cursor": cursor} if cursor else {}))
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 10, "the cursor never ran out"

    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [task for page in pages for task in page]
    assert sorted(task["order_id"] for task in listed) == sorted(placed)
    keys = [(task["opened_at"], task["id"]) for task in listed]
    assert keys == sorted(keys)


def test_a_last_full_task_page_has_no_next_cursor(client: FlaskClient) -> None:
    for _ in range(2):
        place(client, payment={"token": "tok_clarify"})

    page = tasks(client, limit=2)

    assert len(page["items"]) == 2
    assert page["next_cursor"] is None


@pytest.mark.parametrize("cursor", ["zzz", "!!!", "a" * 50, "a" * 121, "YXxifGM"])
def test_a_bogus_task_cursor_is_a_400(client: FlaskClient, waiting: dict[str, Any],
                                      cursor: str) -> None:
    response = client.get(TASKS, headers=ADMIN_HEADERS, query_string={"cursor": cursor})

    error = error_of(response, 400)
    assert error["code"] == "invalid_cursor"
    assert places(error) == ["query.cursor"]


@pytest.mark.parametrize("query", ["status=lost", "status=OPEN", "limit=0", "limit=201",
                                   "limit=ten", "colour=red"])
def test_a_bad_task_query_is_a_422_naming_the_parameter(client: FlaskClient,
                                                        query: str) -> None:
    response = client.get(f"{TASKS}?{query}", headers=ADMIN_HEADERS)

    assert places(error_of(response, 422)) == [f"query.{query.split('=')[0]}"]


def test_approving_a_task_collects_the_money_and_delivers_the_order(
        client: FlaskClient, clock: ManualClock, waiting: dict[str, Any]) -> None:
    clock.advance("P2D")

    response = complete(client, waiting["task"]["id"],
                        {"outcome": "approved", "note": "called the customer"})

    assert response.status_code == 200, response.get_json()
    task = response.get_json()
    assert (task["id"], task["status"]) == (waiting["task"]["id"], "approved")
    assert task["note"] == "called the customer"
    assert task["closed_at"] == "2026-01-07T09:00:00+00:00"
    assert ended(client, waiting["order_id"]) == ("delivered", None)
    assert tasks(client)["items"] == []
    assert [p["status"] for p in payments(client, waiting["order_id"])["items"]] == ["received"]


def test_declining_a_task_cancels_the_order_as_payment_declined(
        client: FlaskClient, waiting: dict[str, Any]) -> None:
    response = complete(client, waiting["task"]["id"], {"outcome": "declined"})

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "declined"
    assert ended(client, waiting["order_id"]) == ("cancelled", "payment_declined")
    assert task_of(client, waiting["order_id"], "declined")["id"] == waiting["task"]["id"]


def test_completing_a_task_twice_is_a_409_and_keeps_the_first_answer(
        client: FlaskClient, waiting: dict[str, Any]) -> None:
    task_id = waiting["task"]["id"]
    first = complete(client, task_id, {"outcome": "approved", "note": "first"}).get_json()

    response = complete(client, task_id, {"outcome": "declined", "note": "second"})

    assert error_of(response, 409)["code"] == "task_closed"
    assert task_of(client, waiting["order_id"], "approved") == first
    assert ended(client, waiting["order_id"]) == ("delivered", None)


def test_completing_the_task_of_an_order_cancelled_meanwhile_is_a_409(
        client: FlaskClient, waiting: dict[str, Any]) -> None:
    assert advance(client, "P8D").status_code == 200
    closed = task_of(client, waiting["order_id"], "cancelled")

    response = complete(client, waiting["task"]["id"], {"outcome": "approved"})

    assert error_of(response, 409)["code"] == "task_closed"
    assert task_of(client, waiting["order_id"], "cancelled") == closed
    assert ended(client, waiting["order_id"]) == ("cancelled", "price_hold_expired")
    assert payments(client, waiting["order_id"])["refunds"] == []


@pytest.mark.parametrize("task_id", ["task_doesnotexist", "x" * 200])
def test_completing_an_unknown_task_is_a_404(client: FlaskClient, waiting: dict[str, Any],
                                             task_id: str) -> None:
    response = complete(client, task_id, {"outcome": "approved"})

    assert error_of(response, 404)["code"] == "task_not_found"
    assert task_of(client, waiting["order_id"]) == waiting["task"]


@pytest.mark.parametrize(("body", "where"), [
    ({}, "body.outcome"), ({"outcome": "maybe"}, "body.outcome"),
    ({"outcome": "APPROVED"}, "body.outcome"), ({"outcome": None}, "body.outcome"),
    ({"outcome": "open"}, "body.outcome"), ({"outcome": "cancelled"}, "body.outcome"),
    ({"outcome": "approved", "reason": "x"}, "body.reason"),
    ({"outcome": "approved", "note": 5}, "body.note"),
    ({"outcome": "approved", "note": "x" * 2001}, "body.note"),
])
def test_a_bad_task_answer_is_a_422_and_leaves_the_task_open(
        client: FlaskClient, waiting: dict[str, Any], body: dict[str, Any], where: str) -> None:
    response = complete(client, waiting["task"]["id"], body)

    assert places(error_of(response, 422)) == [where]
    assert task_of(client, waiting["order_id"]) == waiting["task"]
    assert ended(client, waiting["order_id"]) == ("payment_clarification", None)


@STRANGERS
def test_a_task_answer_without_the_right_token_leaves_the_task_open(
        client: FlaskClient, waiting: dict[str, Any], headers: dict[str, str],
        status: int) -> None:
    response = complete(client, waiting["task"]["id"], {"outcome": "declined"}, headers)

    error_of(response, status)
    assert task_of(client, waiting["order_id"]) == waiting["task"]
    assert ended(client, waiting["order_id"]) == ("payment_clarification", None)


def test_a_stranger_is_refused_before_the_task_answer_is_checked(
        client: FlaskClient, waiting: dict[str, Any]) -> None:
    response = complete(client, waiting["task"]["id"], {"outcome": "maybe"}, NO_TOKEN)

    assert error_of(response, 401)["code"] == "unauthorized"


# --- dead letters -------------------------------------------------------------------------------
def test_a_delivery_out_of_retries_is_listed_as_a_dead_letter(
        client: FlaskClient, stuck: dict[str, Any]) -> None:
    (letter,) = dead_letters(client)["items"]

    assert letter["order_id"] == stuck["id"]
    assert letter["message"] == "orderflow.payment.RetrievePayment"
    assert letter["module"] == "payment"
    assert letter["receiver"].startswith("payment.")
    assert letter["style"] == "orchestration"
    assert letter["attempts"] == MAX_AUTOMATIC_ATTEMPTS
    assert "tok_outage" in letter["last_error"]
    assert letter["parked_at"] == "2026-01-05T13:00:00+00:00"
    assert isinstance(letter["id"], int) and letter["message_id"]


def test_a_stuck_order_says_why_and_names_its_dead_letters(
        client: FlaskClient, stuck: dict[str, Any]) -> None:
    (letter,) = dead_letters(client)["items"]

    assert stuck["status"] == "placed"
    assert f"after {MAX_AUTOMATIC_ATTEMPTS} attempts" in stuck["stuck"]["why"]
    assert "RetrievePayment" in stuck["stuck"]["why"]
    assert stuck["stuck"]["deadletters"] == [
        {"id": letter["id"], "receiver": letter["receiver"], "message": letter["message"],
         "attempts": letter["attempts"], "last_error": letter["last_error"]}]


def test_an_order_that_moves_on_is_not_stuck(client: FlaskClient) -> None:
    assert order(client, place(client)["id"])["stuck"] is None
    assert dead_letters(client) == {"items": [], "next_after": None}


def test_retrying_a_dead_letter_completes_the_order(client: FlaskClient,
                                                    stuck: dict[str, Any]) -> None:
    (letter,) = dead_letters(client)["items"]

    response = client.post(f"{DEADLETTERS}/{letter['id']}/retry", headers=ADMIN_HEADERS)

    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"id": letter["id"], "status": "done"}
    view = order(client, stuck["id"])
    assert (view["status"], view["stuck"]) == ("delivered", None)
    assert dead_letters(client)["items"] == []
    assert [p["status"] for p in payments(client, stuck["id"])["items"]] == ["received"]


def test_retrying_a_delivery_that_is_no_longer_parked_is_a_409(
        client: FlaskClient, stuck: dict[str, Any]) -> None:
    (letter,) = dead_letters(client)["items"]
    client.post(f"{DEADLETTERS}/{letter['id']}/retry", headers=ADMIN_HEADERS)
    before = order(client, stuck["id"])

    response = client.post(f"{DEADLETTERS}/{letter['id']}/retry", headers=ADMIN_HEADERS)

    assert error_of(response, 409)["code"] == "not_parked"
    assert order(client, stuck["id"]) == before
    assert len(payments(client, stuck["id"])["items"]) == 1


def test_retrying_an_unknown_dead_letter_is_a_404(client: FlaskClient,
                                                  stuck: dict[str, Any]) -> None:
    response = client.post(f"{DEADLETTERS}/999999/retry", headers=ADMIN_HEADERS)

    assert error_of(response, 404)["code"] == "deadletter_not_found"
    assert order(client, stuck["id"]) == stuck


@STRANGERS
def test_a_retry_without_the_right_token_leaves_the_order_stuck(
        client: FlaskClient, stuck: dict[str, Any], headers: dict[str, str],
        status: int) -> None:
    (letter,) = dead_letters(client)["items"]

    response = client.post(f"{DEADLETTERS}/{letter['id']}/retry", headers=headers)

    error_of(response, status)
    assert order(client, stuck["id"]) == stuck
    assert dead_letters(client)["items"] == [letter]


def test_walking_the_dead_letters_yields_each_once_oldest_first(
        client: FlaskClient, clock: ManualClock, settle: Callable[[], int]) -> None:
    ids = [place(client, style="orchestration", payment={"token": "tok_outage"})["id"]
           for _ in range(3)]
    for order_id in ids:
        park(client, clock, settle, order_id)

    first = dead_letters(client, limit=2)
    second = dead_letters(client, limit=2, after=first["next_after"])

    assert [letter["order_id"] for letter in first["items"]] == ids[:2]
    assert first["next_after"] == first["items"][-1]["id"]
    assert [letter["order_id"] for letter in second["items"]] == ids[2:]
    assert second["next_after"] is None
    assert [letter["order_id"] for letter in dead_letters(client, order_id=ids[1])["items"]] == [
        ids[1]]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=ten", "after=-1",
                                   "after=x", "colour=red"])
def test_a_bad_dead_letter_query_is_a_422_naming_the_parameter(client: FlaskClient,
                                                               query: str) -> None:
    response = client.get(f"{DEADLETTERS}?{query}", headers=ADMIN_HEADERS)

    assert places(error_of(response, 422)) == [f"query.{query.split('=')[0]}"]


# --- the clock ----------------------------------------------------------------------------------
def test_the_clock_shows_the_manual_time(client: FlaskClient) -> None:
    response = client.get(CLOCK)

    assert response.status_code == 200
    assert response.get_json() == {"now": START, "manual": True}


def test_advancing_the_clock_moves_it_by_exactly_the_duration(client: FlaskClient,
                                                              clock: ManualClock) -> None:
    response = advance(client, "P7DT1H30M")

    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"now": "2026-01-12T10:30:00+00:00", "deadlines_fired": 0}
    assert now(client) == "2026-01-12T10:30:00+00:00"
    assert clock.now().isoformat() == "2026-01-12T10:30:00+00:00"


@pytest.mark.parametrize("by", ["7D", "P", "PT", "P1DT", "-P1D", "P-1D", "P0D", "PT0S", "",
                                "P1Y", "P1M", "P3661D", "P99999999999D", "PT1" + "0" * 20 + "S",
                                "soon", 7, None, ["P1D"]])
def test_a_bad_duration_is_a_422_and_the_clock_stays(client: FlaskClient, by: Any) -> None:
    response = advance(client, by)

    assert places(error_of(response, 422)) == ["body.by"]
    assert now(client) == START


def test_steps_that_would_add_up_past_the_year_9000_are_a_422(database_url: str) -> None:
    late = ManualClock(datetime(8995, 1, 1, tzinfo=UTC))
    app = build_app(database_url, clock=late)
    client = app.test_client()
    try:
        response = advance(client, "P3000D")  # within the limit of one step, not of the calendar

        assert places(error_of(response, 422)) == ["body.by"]
        assert now(client) == "8995-01-01T00:00:00+00:00"
    finally:
        app.extensions["orderflow"].close()


@pytest.mark.parametrize(("body", "where"), [({}, "body.by"),
                                             ({"by": "P1D", "to": "x"}, "body.to")])
def test_a_bad_advance_body_is_a_422_and_the_clock_stays(
        client: FlaskClient, body: dict[str, Any], where: str) -> None:
    response = client.post(f"{CLOCK}/advance", json=body, headers=ADMIN_HEADERS)

    assert places(error_of(response, 422)) == [where]
    assert now(client) == START


@STRANGERS
def test_advancing_without_the_right_token_leaves_the_clock(
        client: FlaskClient, waiting: dict[str, Any], headers: dict[str, str],
        status: int) -> None:
    response = advance(client, "P8D", headers)

    error_of(response, status)
    assert now(client) == START
    assert ended(client, waiting["order_id"]) == ("payment_clarification", None)


def test_a_stranger_is_refused_before_the_duration_is_checked(client: FlaskClient) -> None:
    response = advance(client, "soon", NO_TOKEN)

    assert error_of(response, 401)["code"] == "unauthorized"


def test_advancing_the_clock_also_delivers_the_retries_that_fell_due(
        client: FlaskClient) -> None:
    order_id = place(client, payment={"token": "tok_outage"})["id"]

    for _ in range(MAX_AUTOMATIC_ATTEMPTS - 1):
        assert dead_letters(client)["items"] == []  # silent for an hour (stuck), not parked
        assert advance(client, "PT1H").status_code == 200

    assert order(client, order_id)["stuck"]["deadletters"][0]["attempts"] == (
        MAX_AUTOMATIC_ATTEMPTS)


def test_the_system_clock_cannot_be_advanced(system_clock_client: FlaskClient) -> None:
    before = system_clock_client.get(CLOCK).get_json()
    assert before["manual"] is False

    response = advance(system_clock_client, "P7D")

    assert error_of(response, 409)["code"] == "clock_not_manual"
    after = datetime.fromisoformat(system_clock_client.get(CLOCK).get_json()["now"])
    assert abs(after - datetime.now(UTC)) < timedelta(minutes=1)


def test_advancing_past_the_price_hold_cancels_an_order_still_waiting_for_clarification(
        client: FlaskClient, waiting: dict[str, Any]) -> None:
    response = advance(client, "P8D")

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["deadlines_fired"] >= 1
    assert ended(client, waiting["order_id"]) == ("cancelled", "price_hold_expired")
    task = task_of(client, waiting["order_id"], "cancelled")
    assert task["id"] == waiting["task"]["id"]
    assert task["closed_at"] == "2026-01-13T09:00:00+00:00"
    assert tasks(client)["items"] == []
    hold = deadline(order(client, waiting["order_id"]), "price_hold")
    assert (hold["status"], hold["due_at"]) == ("fired", "2026-01-12T09:00:00+00:00")


def test_advancing_within_the_price_hold_fires_nothing(client: FlaskClient,
                                                       waiting: dict[str, Any]) -> None:
    response = advance(client, "P6DT23H")

    assert response.get_json()["deadlines_fired"] == 0
    assert ended(client, waiting["order_id"]) == ("payment_clarification", None)
    assert task_of(client, waiting["order_id"]) == {**waiting["task"], "age_seconds": 601200}


# --- invoices -----------------------------------------------------------------------------------
def test_a_vip_order_is_delivered_with_one_open_invoice_due_30_days_after_shipping(
        client: FlaskClient, vip: dict[str, Any]) -> None:
    invoice = vip["invoice"]

    assert ended(client, vip["order_id"]) == ("delivered", None)
    assert invoice["id"] and invoice["order_id"] == vip["order_id"]
    assert (invoice["status"], invoice["amount"]) == ("open", "59.00")
    assert (invoice["sent_at"], invoice["due_at"]) == (START, "2026-02-04T09:00:00+00:00")
    assert invoice["paid_at"] is None
    due = deadline(order(client, vip["order_id"]), "invoice_due")
    assert (due["status"], due["due_at"]) == ("pending", invoice["due_at"])


def test_an_order_of_a_customer_who_is_not_vip_has_no_invoice(client: FlaskClient) -> None:
    assert invoices(client, place(client)["id"]) == []


def test_an_unknown_order_has_no_invoices(client: FlaskClient) -> None:
    assert invoices(client, "ord_doesnotexist") == []


def test_paying_an_invoice_marks_it_paid_and_stops_the_reminder(
        client: FlaskClient, clock: ManualClock, vip: dict[str, Any]) -> None:
    clock.advance("P10D")

    response = pay(client, vip["invoice"]["id"])

    assert response.status_code == 200, response.get_json()
    paid = response.get_json()
    assert paid == {**vip["invoice"], "status": "paid", "paid_at": "2026-01-15T09:00:00+00:00"}
    assert invoices(client, vip["order_id"]) == [paid]
    assert deadline(order(client, vip["order_id"]), "invoice_due")["status"] == "cancelled"
    assert advance(client, "P30D").get_json()["deadlines_fired"] == 0
    assert invoices(client, vip["order_id"]) == [paid]


def test_paying_an_invoice_twice_is_a_409_and_keeps_the_first_payment(
        client: FlaskClient, clock: ManualClock, vip: dict[str, Any]) -> None:
    paid = pay(client, vip["invoice"]["id"]).get_json()
    clock.advance("P1D")

    response = pay(client, vip["invoice"]["id"])

    assert error_of(response, 409)["code"] == "invoice_not_open"
    assert invoices(client, vip["order_id"]) == [paid]


def test_an_overdue_invoice_can_still_be_paid(client: FlaskClient, vip: dict[str, Any]) -> None:
    advance(client, "P31D")
    assert invoices(client, vip["order_id"])[0]["status"] == "overdue"

    response = pay(client, vip["invoice"]["id"])

    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "paid"


@pytest.mark.parametrize("invoice_id", ["inv_doesnotexist", "x" * 200])
def test_paying_an_unknown_invoice_is_a_404(client: FlaskClient, vip: dict[str, Any],
                                            invoice_id: str) -> None:
    response = pay(client, invoice_id)

    assert error_of(response, 404)["code"] == "invoice_not_found"
    assert invoices(client, vip["order_id"]) == [vip["invoice"]]


@STRANGERS
def test_paying_without_the_right_token_leaves_the_invoice_open(
        client: FlaskClient, vip: dict[str, Any], headers: dict[str, str],
        status: int) -> None:
    response = pay(client, vip["invoice"]["id"], headers)

    error_of(response, status)
    assert invoices(client, vip["order_id"]) == [vip["invoice"]]


@pytest.mark.parametrize("path", [INVOICES, PAYMENTS])
@pytest.mark.parametrize("query", ["", "?order_id=", "?order_id=" + "x" * 41])
def test_invoices_and_payments_are_read_by_order_id(client: FlaskClient, path: str,
                                                    query: str) -> None:
    response = client.get(f"{path}{query}")

    assert places(error_of(response, 422)) == ["query.order_id"]


# --- payments -----------------------------------------------------------------------------------
def test_a_delivered_order_shows_one_received_payment_and_no_refund(
        client: FlaskClient) -> None:
    order_id = place(client)["id"]

    listed = payments(client, order_id)

    (payment,) = listed["items"]
    assert (payment["status"], payment["amount"], payment["method"]) == (
        "received", "49.80", "card")
    assert payment["id"] and payment["created_at"] == START
    assert listed["refunds"] == []


def test_an_order_that_could_not_be_shipped_shows_its_refund(client: FlaskClient) -> None:
    order_id = place(client, customer={"id": "c-1", "name": "Ada",
                                       "address": "9 UNDELIVERABLE Lane"})["id"]

    listed = payments(client, order_id)

    assert ended(client, order_id) == ("cancelled", "undeliverable")
    (payment,) = listed["items"]
    (refund,) = listed["refunds"]
    assert payment["status"] == "refunded"
    assert (refund["payment_id"], refund["amount"]) == (payment["id"], "49.80")


def test_a_declined_payment_is_listed_with_its_reason(client: FlaskClient) -> None:
    order_id = place(client, payment={"token": "tok_decline"})["id"]

    (payment,) = payments(client, order_id)["items"]

    assert payment["status"] == "declined"
    assert payment["reason"]


def test_payments_never_show_the_payment_token(client: FlaskClient) -> None:
    order_id = place(client, payment={"token": "tok_clarify"})["id"]

    assert "tok_clarify" not in client.get(PAYMENTS, query_string={"order_id": order_id}
                                           ).get_data(as_text=True)


# --- the order view: flow, deadlines, stuck -----------------------------------------------------
@pytest.mark.parametrize("flow", ["sequential", "parallel"])
def test_an_order_runs_in_the_flow_it_asks_for(client: FlaskClient, flow: str) -> None:
    placed = place(client, flow=flow)

    assert placed["flow"] == flow
    assert order(client, placed["id"])["flow"] == flow


def test_an_order_without_a_flow_runs_sequentially_by_default(client: FlaskClient) -> None:
    assert place(client)["flow"] == "sequential"


def test_an_order_without_a_flow_runs_in_the_configured_one(
        make_app: Callable[..., Flask]) -> None:
    client = make_app(flow="parallel").test_client()

    assert place(client)["flow"] == "parallel"


@pytest.mark.parametrize("flow", ["bogus", "Parallel", "", 1, True, ["parallel"]])
def test_an_unknown_flow_is_a_422_and_places_nothing(client: FlaskClient, flow: Any) -> None:
    response = client.post(ORDERS, json=order_body(flow=flow))

    assert places(error_of(response, 422)) == ["body.flow"]
    assert client.get(ORDERS, headers=ADMIN_HEADERS).get_json()["items"] == []


def test_an_order_waiting_for_payment_shows_its_pending_price_hold(
        client: FlaskClient, waiting: dict[str, Any]) -> None:
    view = order(client, waiting["order_id"])

    hold = deadline(view, "price_hold")
    assert (hold["status"], hold["due_at"], hold["closed_at"]) == (
        "pending", "2026-01-12T09:00:00+00:00", None)
    assert view["stuck"] is None


def test_a_delivered_order_has_no_pending_deadline(client: FlaskClient) -> None:
    view = order(client, place(client)["id"])

    assert view["deadlines"]
    for due in view["deadlines"]:
        assert {"name", "due_at", "status"} <= set(due)
        assert due["status"] != "pending"
    assert deadline(view, "price_hold")["status"] == "cancelled"


def test_openapi_lists_the_operator_paths(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]

    expected = {TASKS: {"get"}, "/api/tasks/{task_id}/complete": {"post"},
                DEADLETTERS: {"get"}, "/api/deadletters/{delivery_id}/retry": {"post"},
                CLOCK: {"get"}, "/api/clock/advance": {"post"}, INVOICES: {"get"},
                "/api/invoices/{invoice_id}/pay": {"post"}, PAYMENTS: {"get"}}
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
