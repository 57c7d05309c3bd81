"""The shipping module's published language."""

from __future__ import annotations

from app.bus import Command, Event


class ShipGoods(Command):
    pick_id: str
    recipient: str
    address: str


class GoodsShipped(Event):
    shipment_id: str


class ShipmentFailed(Event):
    reason: str
