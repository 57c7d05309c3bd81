"""A shop's webhook endpoint for the tests: a real HTTP server on loopback (``http.server``,
its own thread) that checks each request's Standard Webhooks signature with the
``standardwebhooks`` package, writes down what arrived, and answers as the test says: 200,
500, a redirect, or nothing at all until the sender gives up."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import text
from standardwebhooks import Webhook, WebhookVerificationError

from tests.conftest import ADMIN_HEADERS
from tests.shop import Shop

OK, FAIL, HANG = "ok", "fail", "hang"
REDIRECT = "redirect"  # 307 to the address in ``Receiver.redirect_to``
LONGEST_HANG_SECONDS = 30.0  # an unanswered request ends at the latest then, or at close
STATUS_CHANGED = "orderflow.orders.OrderStatusChanged"


@dataclass(frozen=True)
class Arrival:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool  # the signature checked out against the subscription's secret
    answer: int | None  # None: left unanswered (the sender timed out)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)

    @property
    def accepted(self) -> bool:
        return self.answer is not None and 200 <= self.answer < 300


class Receiver:
    """``with Receiver() as receiver:``; ``receiver.subscribe(client)`` registers a URL of it
    (a path per subscription) and keeps the secret the shop answered with."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.redirect_to = ""
        self._secrets: dict[str, str] = {}
        self._plans: dict[str, deque[str]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._closing.set()  # unanswered requests end now
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = "/hooks/orders") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def subscribe(self, client: FlaskClient, path: str = "/hooks/orders",
                  **filters: Any) -> dict[str, Any]:
        response = client.post("/api/webhooks", json={"url": self.url(path), **filters},
                               headers=ADMIN_HEADERS)
        assert response.status_code == 201, response.get_json()
        self._secrets[path] = response.get_json()["secret"]
        return response.get_json()

    def answer_next(self, *behaviours: str, path: str = "/hooks/orders") -> None:
        """How to answer the next requests to ``path`` (FAIL, HANG, REDIRECT); then 200."""
        with self._lock:
            self._plans.setdefault(path, deque()).extend(behaviours)

    def accepted(self, order_id: str | None = None, path: str | None = None) -> list[Arrival]:
        return [a for a in self.arrivals if a.accepted
                and (order_id is None or a.event["subject"] == order_id)
                and (path is None or a.path == path)]

    # --- the server's side --------------------------------------------------------------------
    def _next(self, path: str) -> str:
        with self._lock:
            plan = self._plans.get(path)
            return plan.popleft() if plan else OK

    def _verified(self, path: str, body: bytes, headers: dict[str, str]) -> bool:
        try:
            Webhook(self._secrets[path]).verify(body, headers)
        except (KeyError, WebhookVerificationError):
            return False
        return True

    def _arrived(self, arrival: Arrival) -> None:
        with self._lock:
            self.arrivals.append(arrival)


ANSWERS = {OK: 200, FAIL: 500, REDIRECT: 307}


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            headers = {name.lower(): value for name, value in self.headers.items()}
            behaviour = receiver._next(self.path)
            answer = ANSWERS.get(behaviour)
            receiver._arrived(Arrival(self.path, headers, body,
                                      receiver._verified(self.path, body, headers), answer))
            if answer is None:  # HANG: keep the sender waiting, answer nothing
                receiver._closing.wait(LONGEST_HANG_SECONDS)
                self.close_connection = True
                return
            self.send_response(answer)
            if behaviour == REDIRECT:
                self.send_header("Location", receiver.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the test reads ``arrivals``

    return Handler


# --- what the shop says -----------------------------------------------------------------------
def status_history(shop: Shop, order_id: str) -> list[tuple[str, str | None]]:
    """The order's history rows (``orders_status_change``): every change of its status."""
    with shop.runtime.bus.db.reading() as session:
        rows = session.execute(text("SELECT status, reason FROM orders_status_change "
                                    "WHERE order_id = :order_id ORDER BY id"),
                               {"order_id": order_id}).all()
    return [(status, reason) for status, reason in rows]


def status_change_ids(shop: Shop, order_id: str) -> list[str]:
    """The ids of the order's OrderStatusChanged events on its timeline, in order."""
    return [m["event"]["id"] for m in shop.timeline(order_id)
            if m["event"]["type"] == STATUS_CHANGED]


def webhook_deliveries(shop: Shop, order_id: str) -> list[dict[str, Any]]:
    """The deliveries of the order's DeliverWebhook commands, in publication order."""
    return [delivery for m in shop.timeline(order_id)
            if m["event"]["type"].endswith(".DeliverWebhook")
            for delivery in m["deliveries"]]


def assert_heard_each_change_once(shop: Shop, receiver: Receiver, order_id: str,
                                  path: str | None = None) -> None:
    """Accepted exactly once per event id, in order, exactly the order's changes of status;
    every request signed; every repeat of an id the same event."""
    accepted = receiver.accepted(order_id, path)
    assert [a.webhook_id for a in accepted] == status_change_ids(shop, order_id)
    assert [(a.event["data"]["status"], a.event["data"]["reason"]) for a in accepted] == (
        status_history(shop, order_id))
    assert all(a.verified for a in receiver.arrivals)
    first_body = {a.webhook_id: a.body for a in reversed(receiver.arrivals)}
    assert all(a.body == first_body[a.webhook_id] for a in receiver.arrivals)


def pass_time_until(shop: Shop, done: Any, step: str = "PT1M", at_most: int = 10) -> None:
    """Move the manual clock a step at a time (retries fall due) until ``done()``."""
    for _ in range(at_most):
        if done():
            return
        shop.pass_time(step)
    assert done(), f"not done after {at_most} steps of {step}"
