"""Shipping's tables (prefix ``shipping_``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

SHIPPED, FAILED = "shipped", "failed"


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
    """Where an order goes: shipping's own copy of the address it was told."""

    __tablename__ = "shipping_destination"

    order_id: str = Field(primary_key=True, max_length=40)
    recipient: str = Field(max_length=200)
    address: str = Field(max_length=500)
