"""Shipping's tables (prefix ``shipping_``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

SHIPPED, FAILED = "shipped", "failed"
WAITING, DONE, CANCELLED = "waiting", "done", "cancelled"  # destinations


class Shipment(SQLModel, table=True):
    __tablename__ = "shipping_shipment"

    id: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(index=True, unique=True, max_length=40)
    pick_id: str = Field(max_length=40)
    recipient: str = Field(max_length=200)
    address: str = Field(max_length=500)
    status: str = Field(max_length=20)
    tracking_id: str | None = Field(default=None, max_length=60)
    reason: str | None = Field(default=None, max_length=60)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))


class Destination(SQLModel, table=True):
    """Choreographed styles: where an order goes (shipping's own copy of the address) and what
    shipping is still waiting for before it hands the parcel over: the goods, and the payment
    unless the order may ship unpaid."""

    __tablename__ = "shipping_destination"

    order_id: str = Field(primary_key=True, max_length=40)
    recipient: str = Field(max_length=200)
    address: str = Field(max_length=500)
    needs_payment: bool = True
    paid: bool = False
    pick_id: str | None = Field(default=None, max_length=40)
    status: str = Field(default=WAITING, max_length=20)  # waiting -> done | cancelled
