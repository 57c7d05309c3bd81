"""Inventory's tables (prefix ``inventory_``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, DateTime
from sqlmodel import Field, SQLModel

FETCHED, RELEASED = "fetched", "released"
WAITING, TAKEN, CANCELLED = "waiting", "taken", "cancelled"  # expected orders


class Item(SQLModel, table=True):
    __tablename__ = "inventory_item"
    __table_args__ = (CheckConstraint("stock >= 0", name="ck_inventory_item_stock"),)

    sku: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    price_cents: int = Field(sa_type=BigInteger)  # cents
    stock: int
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class Pick(SQLModel, table=True):
    """Goods taken off the shelf for one order; released puts them back."""

    __tablename__ = "inventory_pick"

    id: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(index=True, unique=True, max_length=40)
    status: str = Field(max_length=20)
    lines: list[dict] = Field(sa_type=JSON)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class ExpectedOrder(SQLModel, table=True):
    """Choreography: the goods an order will need, noted when it is placed, fetched once paid."""

    __tablename__ = "inventory_expected_order"

    order_id: str = Field(primary_key=True, max_length=40)
    lines: list[dict] = Field(sa_type=JSON)
    status: str = Field(default=WAITING, max_length=20)  # waiting -> taken | cancelled
