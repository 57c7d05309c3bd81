"""The orders module's published language."""

from __future__ import annotations

from typing import ClassVar

from app.bus import Event, Value

# An order's statuses (OrderStatusChanged.status); delivered and cancelled end it.
PLACED, PAID, FETCHED, DELIVERED, CANCELLED = "placed", "paid", "fetched", "delivered", "cancelled"
PAYMENT_CLARIFICATION = "payment_clarification"
STATUSES = (PLACED, PAYMENT_CLARIFICATION, PAID, FETCHED, DELIVERED, CANCELLED)


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
    # Added with the long-running flows; the defaults let messages logged before still be read.
    flow: str = "sequential"  # or parallel: fetch while paying, ship when both are done
    pay_by: str | None = None  # ISO-8601: the end of the price hold; None: no hold (VIP)


class OrderReleased(Event):
    """Hybrid: fulfil the order. With ``awaiting_payment`` the goods may be picked while the
    payment is collected, but the parcel waits for ``OrderPaid``."""

    items: tuple[OrderLine, ...]
    recipient: str
    address: str
    awaiting_payment: bool = False


class OrderPaid(Event):
    """Hybrid, parallel flow: the payment of a released order is collected; it may ship."""


class PriceHoldExpired(Event):
    """Orders' own deadline: the order was not paid within the price hold."""


class OrderDelivered(Event):
    pass


class OrderCancelled(Event):
    reason: str


class OrderStatusChanged(Event):
    """Published in the transaction of every change of an order's status (its history row in
    ``orders_status_change``), in every style: for whoever follows orders from outside."""

    outside_the_flow: ClassVar[bool] = True
    status: str  # one of STATUSES
    reason: str | None = None  # why it was cancelled
    style: str
    at: str  # ISO-8601: when the status changed


# A flow whose log holds one of these is finished (the composition root tells the kernel, for
# retention: ORDERFLOW_RETAIN_FINISHED); whatever follows (compensation, an invoice) is awaited
# through deliveries and deadlines, which retention waits for too.
FLOW_ENDS = (OrderDelivered, OrderCancelled)
