"""Webhooks' table (prefix ``webhooks_``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

MAX_URL_LENGTH = 2000


class Subscription(SQLModel, table=True):
    """A URL an admin registered, what it wants to hear of (None: everything), and the secret
    its deliveries are signed with (Standard Webhooks: ``whsec_`` and base64)."""

    __tablename__ = "webhooks_subscription"

    seq: int | None = Field(default=None, primary_key=True)  # the order they were registered
    id: str = Field(unique=True, max_length=40)  # public
    url: str = Field(max_length=MAX_URL_LENGTH)
    secret: str = Field(max_length=100)
    statuses: str | None = Field(default=None, max_length=200)  # comma-separated
    styles: str | None = Field(default=None, max_length=100)  # comma-separated
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
