"""The demo: one order per ending in each style, with inline dispatch on a throw-away database
and a manual clock, and each order's path through the modules as read back from its timeline.
Some endings need an operator (a clarification task, a parked delivery, an invoice) or time to
pass (the price hold, an invoice's due date): the demo plays that part too."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOME = "1 Main Street, Springfield"
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
    import logging

    from app import create_app, schema
    from app.clock import ManualClock
    from app.config import Settings
    from app.modules.inventory.demo import load_demo_catalogue

    with tempfile.TemporaryDirectory(prefix="orderflow-demo-") as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        schema.upgrade(url)
        token = secrets.token_urlsafe(16)
        app = create_app(Settings(dispatch="inline", database_url=url, admin_token=token),
                         clock=ManualClock())
        runtime = app.extensions["orderflow"]
        with runtime.bus.db.session() as session:
            load_demo_catalogue(session, runtime.bus.clock.now())
            session.commit()
        operator = Operator(app.test_client(), {"Authorization": f"Bearer {token}"})
        logging.getLogger("orderflow.dispatcher").setLevel(logging.ERROR)  # attempts are shown
        try:
            for style in styles:
                echo(f"\n=== {style} ===")
                for ending in ENDINGS:
                    _show(operator, style, ending, echo)
        finally:
            runtime.close()


@dataclass
class Operator:
    """Plays the call centre, the operator and the passing of time, through the HTTP API."""

    client: Client
    admin: dict[str, str]

    def do(self, action: str, argument: str, order_id: str) -> None:
        getattr(self, action)(argument, order_id)

    def advance(self, duration: str, order_id: str) -> None:
        self._ok(self.client.post("/api/clock/advance", json={"by": duration},
                                  headers=self.admin))

    def task(self, outcome: str, order_id: str) -> None:
        tasks = self._ok(self.client.get("/api/tasks", headers=self.admin))["items"]
        task = next(t for t in tasks if t["order_id"] == order_id)
        self._ok(self.client.post(f"/api/tasks/{task['id']}/complete",
                                  json={"outcome": outcome}, headers=self.admin))

    def retry(self, _: str, order_id: str) -> None:
        letters = self._ok(self.client.get("/api/deadletters", headers=self.admin))["items"]
        for letter in (x for x in letters if x["order_id"] == order_id):
            self._ok(self.client.post(f"/api/deadletters/{letter['id']}/retry",
                                      headers=self.admin))

    def pay(self, _: str, order_id: str) -> None:
        invoices = self._ok(self.client.get(f"/api/invoices?order_id={order_id}"))["items"]
        for invoice in invoices:
            self._ok(self.client.post(f"/api/invoices/{invoice['id']}/pay", headers=self.admin))

    @staticmethod
    def _ok(response: Any) -> Any:
        if response.status_code >= 400:
            raise RuntimeError(f"demo step refused: {response.get_json()}")
        return response.get_json()


def _show(operator: Operator, style: str, ending: Ending, echo: Callable[[str], None]) -> None:
    client = operator.client
    order_id = operator._ok(client.post("/api/orders", json=order_request(style, ending)))["id"]
    for action, argument in ending.then:
        operator.do(action, argument, order_id)
    order = client.get(f"/api/orders/{order_id}").get_json()
    timeline = client.get(f"/api/orders/{order_id}/timeline").get_json()
    outcome = order["status"] + (f" ({order['reason']})" if order["reason"] else "")
    echo(f"\n{ending.name}: {outcome}, {len(timeline['messages'])} messages")
    for message in timeline["messages"]:
        receivers = sorted(_receiver(d) for d in message["deliveries"]) or ["nobody"]
        source = message["source"].rsplit("/", 1)[-1]
        kind = "command" if message["kind"] == "command" else "event  "
        echo(f"  {kind} {message['type'].rsplit('.', 1)[-1]:<29} {source:>9} -> "
             f"{', '.join(receivers)}")


def _receiver(delivery: dict[str, Any]) -> str:
    attempts = delivery["attempts"]
    return delivery["module"] + (f" ({attempts} attempts)" if attempts > 1 else "")
