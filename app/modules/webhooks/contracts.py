"""The webhooks module's published language."""

from __future__ import annotations

from typing import ClassVar

from app.bus import Command


class DeliverWebhook(Command):
    """POST one status change of an order (the OrderStatusChanged ``event_id``) to one
    subscription. It carries no address: the URL is read from the stored subscription. Each
    subscription is a lane of its own: it hears an order's changes in order, and one that
    fails or is parked holds back no other subscription."""

    lane_field: ClassVar[str | None] = "subscription_id"
    outside_the_flow: ClassVar[bool] = True
    subscription_id: str
    event_id: str
    status: str
    reason: str | None = None
    style: str
    at: str  # ISO-8601: when the status changed
