"""Inventory's use cases. Taking stock is one conditional UPDATE per line, so two orders for the
last unit can never both get it, on SQLite or PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from app.bus import UnitOfWork
from app.modules.inventory.contracts import (
    GoodsFetched,
    GoodsLine,
    GoodsReleased,
    GoodsUnavailable,
    Quote,
    QuotedItem,
    QuoteItems,
)
from app.modules.inventory.models import (
    CANCELLED,
    FETCHED,
    RELEASED,
    TAKEN,
    WAITING,
    ExpectedOrder,
    Item,
    Pick,
)


class OutOfStock(Exception):
    def __init__(self, skus: list[str]) -> None:
        super().__init__(", ".join(skus))
        self.skus = skus


def quote(query: QuoteItems, uow: UnitOfWork) -> Quote:
    items = {item.sku: item for item in uow.session.exec(
        select(Item).where(col(Item.sku).in_(query.skus)))}
    return Quote(
        items=tuple(QuotedItem(sku=i.sku, name=i.name, price_cents=i.price_cents)
                    for i in items.values()),
        unknown_skus=tuple(sku for sku in query.skus if sku not in items),
    )


def fetch(uow: UnitOfWork, *, order_id: str, lines: Iterable[GoodsLine]) -> Pick | None:
    """Take the goods for an order off the shelf, all or nothing."""
    if _pick_for(uow.session, order_id) is not None:
        return None
    lines = list(lines)
    try:
        with uow.session.begin_nested():
            _take_stock(uow.session, lines)
    except OutOfStock as missing:
        uow.publish(GoodsUnavailable(order_id=order_id, missing_skus=tuple(missing.skus)))
        return None
    now = uow.bus.clock.now()
    pick = Pick(id=f"pick_{uuid.uuid4().hex[:20]}", order_id=order_id, status=FETCHED,
                lines=[line.model_dump() for line in lines], created_at=now, updated_at=now)
    uow.session.add(pick)
    uow.publish(GoodsFetched(order_id=order_id, pick_id=pick.id))
    return pick


def _take_stock(session: Session, lines: list[GoodsLine]) -> None:
    missing = []
    for line in sorted(lines, key=lambda line: line.sku):  # one lock order: no deadlocks
        taken = session.execute(
            update(Item).where(col(Item.sku) == line.sku, col(Item.stock) >= line.quantity)
            .values(stock=Item.stock - line.quantity))
        if taken.rowcount != 1:
            missing.append(line.sku)
    if missing:
        raise OutOfStock(missing)


def release(uow: UnitOfWork, *, order_id: str) -> Pick | None:
    """Put an order's goods back on the shelf; nothing happens when none were taken."""
    pick = _pick_for(uow.session, order_id)
    if pick is None or pick.status != FETCHED:
        return None
    for line in pick.lines:
        uow.session.execute(update(Item).where(col(Item.sku) == line["sku"])
                            .values(stock=Item.stock + line["quantity"]))
    pick.status, pick.updated_at = RELEASED, uow.bus.clock.now()
    uow.session.add(pick)
    uow.publish(GoodsReleased(order_id=order_id, pick_id=pick.id))
    return pick


def expect(uow: UnitOfWork, *, order_id: str, lines: Iterable[GoodsLine]) -> None:
    uow.session.add(ExpectedOrder(order_id=order_id, lines=[li.model_dump() for li in lines]))


def fetch_expected(uow: UnitOfWork, *, order_id: str) -> Pick | None:
    """Fetch what an order was noted to need, once: not again after a first try (taken or
    unavailable), and not after it was cancelled."""
    expected = uow.session.get(ExpectedOrder, order_id)
    if expected is None:
        raise LookupError(f"inventory was never told what order {order_id} needs")
    if expected.status != WAITING:
        return None
    expected.status = TAKEN
    uow.session.add(expected)
    return fetch(uow, order_id=order_id,
                 lines=[GoodsLine.model_validate(line) for line in expected.lines])


def forget_expected(uow: UnitOfWork, *, order_id: str) -> None:
    expected = uow.session.get(ExpectedOrder, order_id)
    if expected is not None and expected.status == WAITING:
        expected.status = CANCELLED
        uow.session.add(expected)


def _pick_for(session: Session, order_id: str) -> Pick | None:
    return session.exec(select(Pick).where(Pick.order_id == order_id)).first()


# --- the catalogue ------------------------------------------------------------------------------
def catalogue(session: Session) -> list[Item]:
    return list(session.exec(select(Item).order_by(Item.sku)))


def put_item(session: Session, *, sku: str, name: str | None, price_cents: int, stock: int,
             now: datetime) -> tuple[Item, bool]:
    """Create or update an item; returns it and whether it was created."""
    item = session.get(Item, sku)
    created = item is None
    if item is None:
        item = Item(sku=sku, name=name or sku, price_cents=price_cents, stock=stock,
                    updated_at=now)
    else:
        item.name = name or item.name
        item.price_cents, item.stock, item.updated_at = price_cents, stock, now
    session.add(item)
    return item, created
