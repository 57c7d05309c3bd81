"""The orders module's published language."""

from __future__ import annotations

from app.bus import Event, Value


class OrderLine(Value):
    sku: str
    quantity: int
    unit_price_cents: int


class OrderPlaced(Event):
    customer_id: str
    customer_name: str
    address: str
    vip: bool
    items: tuple[OrderLine, ...]
    total_cents: int
    payment_method: str
    payment_token: str


class OrderReleased(Event):
    """Hybrid: payment is settled (or not needed); fulfil the order."""

    items: tuple[OrderLine, ...]
    recipient: str
    address: str


class OrderDelivered(Event):
    pass


class OrderCancelled(Event):
    reason: str
