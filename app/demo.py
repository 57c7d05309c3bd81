"""The demo: one order per ending in each style, with inline dispatch on a throw-away database,
and each order's path through the modules as read back from its timeline."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

ENDINGS = {
    "happy path": {"token": "tok_ok", "sku": "sku-1", "address": "1 Main Street, Springfield"},
    "payment declined": {"token": "tok_decline", "sku": "sku-1",
                         "address": "1 Main Street, Springfield"},
    "goods unavailable": {"token": "tok_ok", "sku": "sku-none",
                          "address": "1 Main Street, Springfield"},
    "parcel undeliverable": {"token": "tok_ok", "sku": "sku-2",
                             "address": "12 UNDELIVERABLE Road"},
}


def order_request(style: str, ending: str) -> dict:
    case = ENDINGS[ending]
    return {"customer": {"id": "c-demo", "name": "Ada Demo", "address": case["address"]},
            "items": [{"sku": case["sku"], "quantity": 1}],
            "payment": {"token": case["token"]}, "style": style}


def run(styles: Iterable[str], echo: Callable[[str], None]) -> None:
    from app import create_app, schema
    from app.config import Settings
    from app.modules.inventory.demo import load_demo_catalogue

    with tempfile.TemporaryDirectory(prefix="orderflow-demo-") as folder:
        url = f"sqlite:///{Path(folder) / 'demo.db'}"
        schema.upgrade(url)
        app = create_app(Settings(dispatch="inline", database_url=url))
        runtime = app.extensions["orderflow"]
        with runtime.bus.db.session() as session:
            load_demo_catalogue(session, runtime.bus.clock.now())
            session.commit()
        client = app.test_client()
        try:
            for style in styles:
                echo(f"\n=== {style} ===")
                for ending in ENDINGS:
                    _show(client, style, ending, echo)
        finally:
            runtime.close()


def _show(client, style: str, ending: str, echo: Callable[[str], None]) -> None:  # type: ignore[no-untyped-def]
    order = client.post("/api/orders", json=order_request(style, ending)).get_json()
    timeline = client.get(f"/api/orders/{order['id']}/timeline").get_json()
    outcome = order["status"] + (f" ({order['reason']})" if order["reason"] else "")
    echo(f"\n{ending}: {outcome}, {len(timeline['messages'])} messages")
    for message in timeline["messages"]:
        receivers = sorted({d["module"] for d in message["deliveries"]}) or ["nobody"]
        source = message["source"].rsplit("/", 1)[-1]
        kind = "command" if message["kind"] == "command" else "event  "
        echo(f"  {kind} {message['type'].rsplit('.', 1)[-1]:<18} {source:>9} -> "
             f"{', '.join(receivers)}")
