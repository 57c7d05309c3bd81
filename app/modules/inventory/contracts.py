"""The inventory module's published language, and the catalogue question it answers."""

from __future__ import annotations

from typing import ClassVar

from app.bus import Command, Event, Query, Value


class GoodsLine(Value):
    sku: str
    quantity: int


class FetchGoods(Command):
    items: tuple[GoodsLine, ...]


class ReleaseGoods(Command):
    """Put an order's goods back; ``pick_id`` is None when the fetch is still on its way."""

    undoes: ClassVar[bool] = True
    pick_id: str | None = None


class GoodsFetched(Event):
    pick_id: str


class GoodsUnavailable(Event):
    missing_skus: tuple[str, ...]


class GoodsReleased(Event):
    undoes: ClassVar[bool] = True
    pick_id: str


class QuoteItems(Query):
    """What do these skus cost, and what are they called? Unknown skus come back missing."""

    skus: tuple[str, ...]


class QuotedItem(Value):
    sku: str
    name: str
    price_cents: int


class Quote(Value):
    items: tuple[QuotedItem, ...]
    unknown_skus: tuple[str, ...]
