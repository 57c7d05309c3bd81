"""A small driver for business scenarios: place orders and observe what a user could observe
(status, stock, money, the timeline) through the HTTP API and the simulated bank."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.test import TestResponse

from app.clock import ManualClock
from tests.conftest import ADMIN_HEADERS

HOME = "1 Main Street, Springfield"
# Shop.place_every_ending's orders, by what happens to them
SPREAD: dict[str, dict[str, Any]] = {
    "delivered": {}, "parallel": {"flow": "parallel"}, "declined": {"token": "tok_decline"},
    "retried": {"token": "tok_flaky"}, "undeliverable": {"address": "12 UNDELIVERABLE Road"},
    "out of stock": {"items": (("sku-1", 1), ("sku-none", 1))},
    "vip": {"vip": True, "items": (("sku-2", 1),)}, "clarified": {"token": "tok_clarify"},
    "refused by the call centre": {"token": "tok_clarify"},
    "price hold expired": {"token": "tok_clarify"},
    "out of stock while clarifying": {"flow": "parallel", "token": "tok_clarify",
                                      "items": (("sku-none", 1),)}}


def first(timeline: list[dict[str, Any]], short_type: str) -> dict[str, Any]:
    """The first entry of a type (``PaymentRefunded``) on a timeline: ``{"seq", "event",
    "deliveries"}``."""
    return next(m for m in timeline if m["event"]["type"].endswith("." + short_type))


def ancestors(timeline: list[dict[str, Any]], message: dict[str, Any]) -> list[str]:
    """The types of the messages that led to this one, nearest first (via ``causationid``,
    which a message published by an HTTP request does not have)."""
    by_id = {m["event"]["id"]: m["event"] for m in timeline}
    chain, cause = [], message["event"].get("causationid")
    while cause:
        chain.append(by_id[cause]["type"].rsplit(".", 1)[-1])
        cause = by_id[cause].get("causationid")
    return chain


def short_type(message: dict[str, Any]) -> str:
    """``PaymentRefunded`` for a timeline entry whose event is orderflow.payment.PaymentRefunded."""
    return str(message["event"]["type"]).rsplit(".", 1)[-1]


class Shop:
    def __init__(self, app: Flask, clock: ManualClock) -> None:
        self.app, self.clock = app, clock
        self.client = app.test_client()
        self.runtime = app.extensions["orderflow"]
        self.initial = {item["sku"]: item["available"] for item in self.catalogue()}

    def place(self, *, style: str, token: str = "tok_ok", address: str = HOME,
              items: tuple[tuple[str, int], ...] = (("sku-1", 1),), vip: bool = False,
              flow: str = "sequential") -> str:
        response = self.client.post("/api/orders", json={
            "customer": {"id": "c-1", "name": "Ada Lovelace", "address": address, "vip": vip},
            "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
            "payment": {"token": token}, "style": style, "flow": flow})
        assert response.status_code == 202, response.get_json()
        return response.get_json()["id"]

    def settle(self) -> int:
        return self.runtime.bus.settle()

    def pass_time(self, duration: str) -> None:
        self.clock.advance(duration)
        self.settle()

    def advance_clock(self, by: str) -> dict[str, Any]:
        """What an operator does: move the manual clock through the API; deadlines fire."""
        response = self.client.post("/api/clock/advance", json={"by": by},
                                    headers=ADMIN_HEADERS)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def tasks(self, order_id: str, status: str = "open") -> list[dict[str, Any]]:
        return self.client.get(f"/api/tasks?status={status}&order_id={order_id}",
                               headers=ADMIN_HEADERS).get_json()["items"]

    def complete_task(self, order_id: str, outcome: str) -> dict[str, Any]:
        (task,) = self.tasks(order_id)
        response = self.client.post(f"/api/tasks/{task['id']}/complete",
                                    json={"outcome": outcome, "note": "called the customer"},
                                    headers=ADMIN_HEADERS)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def deadletters(self, order_id: str) -> list[dict[str, Any]]:
        return self.client.get(f"/api/deadletters?order_id={order_id}",
                               headers=ADMIN_HEADERS).get_json()["items"]

    def retry(self, delivery_id: int) -> dict[str, Any]:
        response = self.client.post(f"/api/deadletters/{delivery_id}/retry",
                                    headers=ADMIN_HEADERS)
        assert response.status_code == 202, response.get_json()
        return response.get_json()

    def invoices(self, order_id: str) -> list[dict[str, Any]]:
        return self.client.get(f"/api/invoices?order_id={order_id}").get_json()["items"]

    def pay_invoice(self, invoice_id: str) -> dict[str, Any]:
        response = self.client.post(f"/api/invoices/{invoice_id}/pay", headers=ADMIN_HEADERS)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def order(self, order_id: str) -> dict[str, Any]:
        return self.client.get(f"/api/orders/{order_id}").get_json()

    def catalogue(self) -> list[dict[str, Any]]:
        return self.client.get("/api/catalog").get_json()["items"]

    def stock(self, sku: str) -> int:
        return next(item["available"] for item in self.catalogue() if item["sku"] == sku)

    def timeline(self, order_id: str) -> list[dict[str, Any]]:
        """The timeline's entries: ``{"seq", "event": <CloudEvent>, "deliveries"}``."""
        return self.client.get(f"/api/orders/{order_id}/timeline").get_json()["messages"]

    def timeline_types(self, order_id: str) -> list[str]:
        return [short_type(message) for message in self.timeline(order_id)]

    def place_every_ending(self, style: str) -> list[str]:
        """Orders that between them log nearly every message type: one per ending, a retried
        charge, a clarification approved, one declined, one left to expire and one overtaken
        by missing stock, a parallel order, a VIP invoice dunned and then paid; returns them
        once all have ended."""
        orders = {name: self.place(style=style, **changes) for name, changes in SPREAD.items()}
        self.pass_time("PT1S")  # the charge's retries, before the price hold is over
        self.pass_time("PT2S")
        self.complete_task(orders["clarified"], "approved")
        self.complete_task(orders["refused by the call centre"], "declined")
        self.advance_clock("P31D")  # retries, the price hold's end, the invoice falls due
        self.pay_invoice(self.invoices(orders["vip"])[0]["id"])
        ended = {name: self.order(order_id)["status"] for name, order_id in orders.items()}
        assert set(ended.values()) <= {"delivered", "cancelled"}, ended
        return list(orders.values())

    @property
    def charged_cents(self) -> int:
        return self.runtime.bus.adapters.payment_provider.charged_cents

    @property
    def refunded_cents(self) -> int:
        return self.runtime.bus.adapters.payment_provider.refunded_cents

    @property
    def parcels_sent(self) -> int:
        return self.runtime.bus.adapters.carrier.parcels_sent


def error_code(body: dict[str, Any]) -> str:
    """The machine-readable code of an error answer (problem details' ``code``)."""
    return str(body["code"])


PROBLEM_MEMBERS = {"type", "title", "status", "detail", "code"}
PROBLEM_OPTIONAL = {"errors", "request_id"}
PROBLEM_EXTENSIONS = {"not_ready": {"reasons", "checks"}}  # members of one kind of problem


def error_of(response: TestResponse, status: int) -> dict[str, Any]:
    """Assert the status and that the body is RFC 9457 problem details, as every error is."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json", response.mimetype
    problem = response.get_json()
    extensions = PROBLEM_EXTENSIONS.get(problem.get("code"), set())
    allowed = PROBLEM_MEMBERS | PROBLEM_OPTIONAL | extensions
    assert PROBLEM_MEMBERS <= set(problem) <= allowed, problem
    assert problem["status"] == status, problem
    assert problem["type"] == f"urn:orderflow:problem:{problem['code']}", problem
    assert all(isinstance(problem[m], str) and problem[m] for m in ("title", "detail", "code"))
    return problem


def places(problem: dict[str, Any]) -> list[str]:
    """Where each bad field is, as ``part.path.to.field`` (``body.items.0.sku``), from each
    error's ``in`` and JSON pointer."""
    return [".".join([error["in"], *(step.replace("~1", "/").replace("~0", "~")
                                     for step in error["pointer"].split("/")[1:])])
            for error in problem.get("errors", [])]
