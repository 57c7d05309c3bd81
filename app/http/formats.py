"""How values look on the wire."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import current_app
from pydantic import BaseModel, ConfigDict

from app.clock import as_utc


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
