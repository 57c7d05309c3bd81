"""The demo: one order per ending in each style, with inline dispatch on a fresh in-memory
database and a manual clock, and each order's path through the modules as read back from its
timeline. Some endings need an operator (a clarification task, a parked delivery, an invoice) or
time to pass (the price hold, an invoice's due date): the demo plays that part too.

``sandbox`` and ``Operator.play`` are the one way to build such an app and play an ending in
it; ``orderflow compare`` uses them too."""

from __future__ import annotations

import logging
import secrets
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import Engine

HOME = "1 Main Street, Springfield"
IN_MEMORY = "sqlite://"
Client = Any  # flask.testing.FlaskClient


@dataclass(frozen=True)
class Ending:
    name: str
    token: str = "tok_ok"
    sku: str = "sku-1"
    address: str = HOME
    vip: bool = False
    flow: str = "sequential"
    then: tuple[tuple[str, str], ...] = field(default=())  # what the operator or time does


ENDINGS = (
    Ending("happy path"),
    Ending("payment declined", token="tok_decline"),
    Ending("goods unavailable", sku="sku-none"),
    Ending("parcel undeliverable", sku="sku-2", address="12 UNDELIVERABLE Road"),
    Ending("clarified by the call centre after 2 days", token="tok_clarify",
           then=(("advance", "P2D"), ("task", "approved"))),
    Ending("price hold expired while waiting for clarification", token="tok_clarify",
           then=(("advance", "P8D"),)),
    Ending("provider outage: parked, then retried by an operator", token="tok_outage",
           then=(("advance", "PT1H"),) * 5 + (("retry", ""),)),
    Ending("VIP: delivered, invoiced, paid 10 days later", vip=True,
           then=(("advance", "P10D"), ("pay", ""))),
    Ending("parallel flow: goods fetched while paying, payment declined", token="tok_clarify",
           flow="parallel", then=(("task", "declined"),)),
)


def order_request(style: str, ending: Ending) -> dict:
    return {"customer": {"id": "c-demo", "name": "Ada Demo", "address": ending.address,
                         "vip": ending.vip},
            "items": [{"sku": ending.sku, "quantity": 1}],
            "payment": {"token": ending.token}, "style": style, "flow": ending.flow}


def run(styles: Iterable[str], echo: Callable[[str], None]) -> None:
    with quiet_dispatcher(), sandbox() as shop:
        for style in styles:
            echo(f"\n=== {style} ===")
            for ending in ENDINGS:
                _show(shop.operator, style, ending, echo)


@dataclass(frozen=True)
class Sandbox:
    app: Flask
    operator: Operator

    @property
    def runtime(self) -> Any:  # app.Runtime
        return self.app.extensions["orderflow"]


@contextmanager
def sandbox() -> Iterator[Sandbox]:
    """An app with inline dispatch and a manual clock on a fresh SQLite database in a
    temporary directory, with the demo catalogue, and an operator with the admin token; closed
    and deleted afterwards. (Not an in-memory database: SQLAlchemy gives each thread its own
    of those, and the simulated provider and carrier answer in a thread of their own, outside
    our transactions, ADR 0020.) The migrations run on the app's engine."""
    from app import create_app
    from app.clock import ManualClock
    from app.config import Settings

    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="orderflow-sandbox-") as directory:
        app = create_app(Settings(dispatch="inline", database_url=f"sqlite:///{directory}/demo.db",
                                  admin_token=token, data_dir=directory).unlimited(),
                         clock=ManualClock())
        yield from _run_sandbox(app, token)


def _run_sandbox(app: Flask, token: str) -> Iterator[Sandbox]:
    from app.modules.inventory.demo import load_demo_catalogue

    runtime = app.extensions["orderflow"]
    try:
        migrate(runtime.bus.db.engine)
        with runtime.bus.db.session() as session:
            load_demo_catalogue(session, runtime.bus.clock.now())
            session.commit()
        yield Sandbox(app, Operator(app.test_client(), {"Authorization": f"Bearer {token}"}))
    finally:
        runtime.close()


def migrate(engine: Engine) -> None:
    """Apply the project's Alembic revisions, oldest first, on this engine's connection."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from app import schema

    script = ScriptDirectory.from_config(schema.alembic_config(IN_MEMORY))
    with engine.begin() as connection:
        context = MigrationContext.configure(connection, opts={"render_as_batch": True})
        with Operations.context(context):
            for revision in reversed(list(script.walk_revisions())):
                revision.module.upgrade()
        context.stamp(script, "head")


@contextmanager
def quiet_dispatcher() -> Iterator[None]:
    """The failed attempts the endings provoke are shown in the output, not logged."""
    logger = logging.getLogger("orderflow.dispatcher")
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(before)


@dataclass
class Operator:
    """Plays the call centre, the operator and the passing of time, through the HTTP API."""

    client: Client
    admin: dict[str, str]

    def play(self, style: str, ending: Ending) -> str:
        """Place the ending's order in this style, then do what the operator or time does;
        returns the order's id."""
        placed = self._ok(self.client.post("/api/orders", json=order_request(style, ending)))
        order_id = placed["id"]
        for action, argument in ending.then:
            self.do(action, argument, order_id)
        return order_id

    def do(self, action: str, argument: str, order_id: str) -> None:
        getattr(self, action)(argument, order_id)

    def advance(self, duration: str, order_id: str) -> None:
        self._ok(self.client.post("/api/clock/advance", json={"by": duration},
                                  headers=self.admin))

    def task(self, outcome: str, order_id: str) -> None:
        tasks = self._ok(self.client.get(f"/api/tasks?order_id={order_id}",
                                         headers=self.admin))["items"]
        if not tasks:
            raise RuntimeError(f"demo step refused: order {order_id} has no open task")
        task = tasks[0]
        self._ok(self.client.post(f"/api/tasks/{task['id']}/complete",
                                  json={"outcome": outcome}, headers=self.admin))

    def retry(self, _: str, order_id: str) -> None:
        letters = self._ok(self.client.get(f"/api/deadletters?order_id={order_id}",
                                           headers=self.admin))["items"]
        if not letters:
            raise RuntimeError(f"demo step refused: order {order_id} has no dead letter")
        for letter in letters:
            self._ok(self.client.post(f"/api/deadletters/{letter['id']}/retry",
                                      headers=self.admin))

    def pay(self, _: str, order_id: str) -> None:
        invoices = self._ok(self.client.get(f"/api/invoices?order_id={order_id}"))["items"]
        if not invoices:
            raise RuntimeError(f"demo step refused: order {order_id} has no invoice to pay")
        for invoice in invoices:
            self._ok(self.client.post(f"/api/invoices/{invoice['id']}/pay", headers=self.admin))

    def order(self, order_id: str) -> dict[str, Any]:
        return self._ok(self.client.get(f"/api/orders/{order_id}"))

    def outcome(self, order_id: str) -> str:
        """``delivered``, or ``cancelled (payment_declined)``: status and reason."""
        order = self.order(order_id)
        return order["status"] + (f" ({order['reason']})" if order["reason"] else "")

    def stock(self) -> dict[str, int]:
        """How many of each sku are available."""
        items = self._ok(self.client.get("/api/catalog"))["items"]
        return {item["sku"]: item["available"] for item in items}

    @staticmethod
    def _ok(response: Any) -> Any:
        if response.status_code >= 400:
            raise RuntimeError(f"demo step refused: {response.get_json()}")
        return response.get_json()


def _show(operator: Operator, style: str, ending: Ending, echo: Callable[[str], None]) -> None:
    order_id = operator.play(style, ending)
    timeline = operator.client.get(f"/api/orders/{order_id}/timeline").get_json()
    echo(f"\n{ending.name}: {operator.outcome(order_id)}, {len(timeline['messages'])} messages")
    for message in timeline["messages"]:
        receivers = sorted(_receiver(d) for d in message["deliveries"]) or ["nobody"]
        event = message["event"]
        source = event["source"].rsplit("/", 1)[-1]
        kind = "command" if event["kind"] == "command" else "event  "
        echo(f"  {kind} {event['type'].rsplit('.', 1)[-1]:<29} {source:>9} -> "
             f"{', '.join(receivers)}")


def _receiver(delivery: dict[str, Any]) -> str:
    attempts = delivery["attempts"]
    return delivery["module"] + (f" ({attempts} attempts)" if attempts > 1 else "")
