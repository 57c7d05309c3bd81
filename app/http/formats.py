"""How values look on the wire."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from flask import current_app
from pydantic import BaseModel, ConfigDict, Field

from app.clock import as_utc

# How the answers' values are described in the OpenAPI document
Money = Annotated[str, Field(pattern=r"^[0-9]+\.[0-9]{2}$", examples=["24.90"],
                             description="an amount in the shop's currency, exact")]
Timestamp = Annotated[datetime, Field(description="RFC 3339, UTC",
                                      examples=["2026-12-07T09:30:00.123456+00:00"])]


def money(cents: int) -> str:
    """2490 -> "24.90": exact, unlike a float."""
    return f"{Decimal(cents) / 100:.2f}"


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_value())


def timestamp(moment: datetime | None) -> str | None:
    return as_utc(moment).isoformat() if moment else None


def runtime() -> Any:  # app.Runtime; importing it here would make the kernel know the modules
    """The running app's bus, settings and admin token (see ``app.Runtime``)."""
    return current_app.extensions["orderflow"]


class Strict(BaseModel):
    """A request model that refuses fields it does not know."""

    model_config = ConfigDict(extra="forbid")


def span(elapsed: timedelta) -> str:
    """A duration for people, its two largest parts: '3 d 4 h', '2 h 5 min', '40 s'. An age
    that comes out negative (a moment logged by a clock ahead of ours) says so, never '0 s'."""
    if elapsed < -timedelta(seconds=1):
        return f"{span(-elapsed)} in the future"
    seconds = max(0, int(elapsed.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    parts = [(seconds // 86400, "d"), (seconds // 3600 % 24, "h"), (seconds // 60 % 60, "min")]
    return " ".join([f"{n} {unit}" for n, unit in parts if n][:2])
