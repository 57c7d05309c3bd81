"""Plugs the modules into the bus and the web app. The composition root calls this; no
module knows it exists."""

from __future__ import annotations

import importlib
from types import ModuleType

from flask import Flask

from app.bus.wiring import Wiring
from app.modules import MODULES
from app.modules.inventory import service as inventory
from app.modules.inventory.contracts import QuoteItems
from app.modules.orders.contracts import FLOW_ENDS


def reactions(module: str, style: str) -> ModuleType:
    return importlib.import_module(f"app.modules.{module}.reactions.{style}")


# A message's receivers get their deliveries in connection order. Connecting the modules in
# reverse order of the flow means that, where several modules undo their own step on one
# OrderCancelled (choreography), the last step is undone first: shipping, inventory, payment.
# Webhooks takes no part in the flow and hears no message another module hears: last.
CONNECTION_ORDER = ("orders", "shipping", "inventory", "payment", "webhooks")


def connect(wiring: Wiring) -> None:
    for style in wiring.styles:
        for module in CONNECTION_ORDER:
            wired = reactions(module, style)
            for message_type, receiver in wired.SUBSCRIPTIONS:
                wiring.connect(style, message_type, receiver, module)
            wiring.declare_sends(style, module, getattr(wired, "SENDS", []))
    assert sorted(CONNECTION_ORDER) == sorted(MODULES)
    wiring.answer(QuoteItems, inventory.quote)
    wiring.end_flows_with(*FLOW_ENDS)


def register_blueprints(app: Flask) -> None:
    for module in ("orders", "payment", "inventory", "webhooks"):
        api = importlib.import_module(f"app.modules.{module}.api")
        app.register_api(api.blueprint)  # type: ignore[attr-defined]


SIMULATORS = ("app.modules.payment.provider", "app.modules.shipping.carrier")


def load_models() -> None:
    """Import every module's tables so that ``SQLModel.metadata`` knows them all."""
    importlib.import_module("app.bus.log")
    importlib.import_module("app.http.logins")
    for module in MODULES:
        importlib.import_module(f"app.modules.{module}.models")
    for simulator in SIMULATORS:  # stand-ins for other systems, with tables of their own
        importlib.import_module(simulator)
