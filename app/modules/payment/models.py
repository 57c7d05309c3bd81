"""Payment's tables (prefix ``payment_``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime
from sqlmodel import Field, SQLModel

RECEIVED, DECLINED, CLARIFICATION, REFUNDED = "received", "declined", "clarification", "refunded"


class Payment(SQLModel, table=True):
    __tablename__ = "payment_payment"

    id: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(index=True, unique=True, max_length=40)
    amount_cents: int = Field(sa_type=BigInteger)  # cents
    method: str = Field(max_length=20)
    status: str = Field(max_length=20)
    charge_id: str | None = Field(default=None, max_length=60)
    reason: str | None = Field(default=None, max_length=60)
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
