"""Orders' tables (prefix ``orders_``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Text
from sqlmodel import Field, SQLModel

from app.modules.orders.contracts import CANCELLED as CANCELLED  # the statuses are orders'
from app.modules.orders.contracts import DELIVERED as DELIVERED  # published language
from app.modules.orders.contracts import FETCHED as FETCHED
from app.modules.orders.contracts import PAID as PAID
from app.modules.orders.contracts import PAYMENT_CLARIFICATION as PAYMENT_CLARIFICATION
from app.modules.orders.contracts import PLACED as PLACED
from app.modules.orders.contracts import STATUSES as STATUSES

TERMINAL = (DELIVERED, CANCELLED)
PAYMENT_PHASE = (PLACED, PAYMENT_CLARIFICATION)  # the price hold runs while an order is here
SEQUENTIAL, PARALLEL = "sequential", "parallel"


class Order(SQLModel, table=True):
    __tablename__ = "orders_order"
    __table_args__ = (
        Index("ix_orders_order_status_seq", "status", "seq"),
        Index("ix_orders_order_style_seq", "style", "seq"),
    )

    seq: int | None = Field(default=None, primary_key=True)  # keyset pagination follows it
    id: str = Field(unique=True, max_length=40)  # public and unguessable
    style: str = Field(max_length=20)
    flow: str = Field(default=SEQUENTIAL, max_length=20)
    status: str = Field(max_length=30)
    reason: str | None = Field(default=None, max_length=60)
    customer_id: str = Field(max_length=64)
    customer_name: str = Field(max_length=200)
    address: str = Field(max_length=500)
    vip: bool = False
    payment_method: str = Field(max_length=20)
    payment_token: str = Field(max_length=64)
    total_cents: int = Field(sa_type=BigInteger)  # cents
    payment_id: str | None = Field(default=None, max_length=40)
    pick_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class OrderLineRecord(SQLModel, table=True):
    __tablename__ = "orders_line"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True, max_length=40)
    sku: str = Field(max_length=40)
    name: str = Field(max_length=200)
    quantity: int
    unit_price_cents: int = Field(sa_type=BigInteger)  # cents


class StatusChange(SQLModel, table=True):
    __tablename__ = "orders_status_change"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True, max_length=40)
    status: str = Field(max_length=30)
    reason: str | None = Field(default=None, max_length=60)
    at: datetime = Field(sa_type=DateTime(timezone=True))


class IdempotencyKey(SQLModel, table=True):
    """A client's ``Idempotency-Key`` on ``POST /api/orders``: the order it made and the answer
    it got, so that the same request again gets the same answer and never a second order."""

    __tablename__ = "orders_idempotency_key"
    __table_args__ = (Index("ix_orders_idempotency_key_expires", "expires_at"),)

    key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64)  # sha256 of the request body, hex
    order_id: str = Field(max_length=40)
    status_code: int
    response: str = Field(sa_type=Text)  # the first answer's JSON body
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
