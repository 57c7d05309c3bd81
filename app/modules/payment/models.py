"""Payment's tables (prefix ``payment_``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Text
from sqlmodel import Field, SQLModel

RECEIVED, DECLINED, CLARIFICATION, REFUNDED = "received", "declined", "clarification", "refunded"
CANCELLED = "cancelled"  # payments, tasks and invoices alike
REVIEWING = "reviewing"  # payments: the call centre answered, the provider is being told
OPEN, APPROVED = "open", "approved"  # tasks: open -> approved | declined | cancelled
PLANNED, PAID, OVERDUE = "planned", "paid", "overdue"  # invoices: planned -> open -> paid|overdue


class Payment(SQLModel, table=True):
    __tablename__ = "payment_payment"

    id: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(index=True, unique=True, max_length=40)
    amount_cents: int = Field(sa_type=BigInteger)  # cents
    method: str = Field(max_length=20)
    status: str = Field(max_length=20)
    charge_id: str | None = Field(default=None, max_length=60)
    reason: str | None = Field(default=None, max_length=60)
    pay_by: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class Refund(SQLModel, table=True):
    __tablename__ = "payment_refund"

    id: str = Field(primary_key=True, max_length=40)
    payment_id: str = Field(index=True, unique=True, max_length=40)
    order_id: str = Field(index=True, max_length=40)
    amount_cents: int = Field(sa_type=BigInteger)  # cents
    provider_ref: str = Field(max_length=60)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))


class Task(SQLModel, table=True):
    """A human task: the call centre clarifies a payment the provider held. While it is open
    the flow waits; no thread, job or lock is held."""

    __tablename__ = "payment_task"
    __table_args__ = (Index("ix_payment_task_status_opened", "status", "opened_at"),
                      Index("ix_payment_task_order_status", "order_id", "status"))

    id: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(index=True, max_length=40)
    payment_id: str = Field(max_length=40)
    kind: str = Field(default="clarification", max_length=20)
    status: str = Field(default=OPEN, max_length=20)
    amount_cents: int = Field(sa_type=BigInteger)  # cents
    customer_id: str = Field(max_length=64)
    customer_name: str = Field(max_length=200)
    style: str = Field(max_length=20)  # the flow's style, to resume it in the same one
    opened_by: str | None = Field(default=None, max_length=40)  # the message that opened it
    note: str | None = Field(default=None, sa_type=Text)
    opened_at: datetime = Field(sa_type=DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Invoice(SQLModel, table=True):
    """Pay later (VIP customers): tracked until paid; past its due date it is dunned."""

    __tablename__ = "payment_invoice"

    id: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(index=True, unique=True, max_length=40)
    amount_cents: int = Field(sa_type=BigInteger)  # cents
    customer_id: str = Field(max_length=64)
    customer_name: str = Field(max_length=200)
    status: str = Field(max_length=20)
    style: str = Field(max_length=20)
    due_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    paid_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
