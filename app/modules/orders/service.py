"""Orders' use cases. Each takes an open unit of work; the caller commits."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from app.bus import UnitOfWork
from app.modules.inventory.contracts import GoodsLine, QuoteItems
from app.modules.orders.contracts import (
    OrderCancelled,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    OrderStatusChanged,
    PriceHoldExpired,
)
from app.modules.orders.models import (
    CANCELLED,
    DELIVERED,
    FETCHED,
    PAID,
    PAYMENT_CLARIFICATION,
    PAYMENT_PHASE,
    PLACED,
    TERMINAL,
    Order,
    OrderLineRecord,
    StatusChange,
)

PRICE_HOLD = "price_hold"


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    address: str
    vip: bool = False


@dataclass(frozen=True)
class PlaceOrder:
    customer: Customer
    items: tuple[tuple[str, int], ...]  # (sku, quantity)
    payment_token: str
    payment_method: str = "card"
    flow: str | None = None  # None: the configured ORDERFLOW_FLOW


class UnknownSkus(Exception):
    def __init__(self, skus: tuple[str, ...]) -> None:
        super().__init__(", ".join(skus))
        self.skus = skus


class OrderNotFound(LookupError):
    pass


def new_order_id() -> str:
    return f"ord_{secrets.token_urlsafe(15)}"


def place(uow: UnitOfWork, request: PlaceOrder) -> Order:
    quote = uow.ask(QuoteItems(skus=tuple(sku for sku, _ in request.items)))
    if quote.unknown_skus:
        raise UnknownSkus(quote.unknown_skus)
    prices = {item.sku: item for item in quote.items}
    now, customer = uow.bus.clock.now(), request.customer
    lines = [OrderLineRecord(sku=sku, name=prices[sku].name, quantity=quantity,
                             unit_price_cents=prices[sku].price_cents)
             for sku, quantity in request.items]
    order = Order(id=new_order_id(), style=uow.style, flow=request.flow or uow.bus.settings.flow,
                  status=PLACED, customer_id=customer.id,
                  customer_name=customer.name, address=customer.address, vip=customer.vip,
                  payment_method=request.payment_method, payment_token=request.payment_token,
                  total_cents=sum(li.quantity * li.unit_price_cents for li in lines),
                  created_at=now, updated_at=now)
    for line in lines:
        line.order_id = order.id
    uow.session.add_all([order, *lines])
    pay_by = None if order.vip else now + uow.bus.settings.price_hold  # VIP: released at once
    placed = uow.publish(_placed_event(order, lines, pay_by))  # a flow's first message
    _record_change(uow, order, now, caused_by=placed.id)
    if pay_by is not None:
        uow.schedule(PriceHoldExpired(order_id=order.id), at=pay_by, name=PRICE_HOLD,
                     caused_by=placed.id)
    return order


def _placed_event(order: Order, lines: list[OrderLineRecord], pay_by: datetime | None
                  ) -> OrderPlaced:
    return OrderPlaced(
        order_id=order.id, customer_id=order.customer_id, customer_name=order.customer_name,
        address=order.address, vip=order.vip, items=order_lines(lines),
        total_cents=order.total_cents, payment_method=order.payment_method,
        payment_token=order.payment_token, flow=order.flow,
        pay_by=pay_by.isoformat() if pay_by else None)


def load(uow: UnitOfWork, order_id: str) -> Order:
    order = uow.session.exec(select(Order).where(Order.id == order_id)).first()
    if order is None:
        raise OrderNotFound(order_id)
    return order


def lines_of(uow: UnitOfWork, order_id: str) -> list[OrderLineRecord]:
    return list(uow.session.exec(select(OrderLineRecord)
                                 .where(OrderLineRecord.order_id == order_id)
                                 .order_by(OrderLineRecord.id)))


def order_lines(lines: list[OrderLineRecord]) -> tuple[OrderLine, ...]:
    return tuple(OrderLine(sku=li.sku, quantity=li.quantity, unit_price_cents=li.unit_price_cents)
                 for li in lines)


def goods_lines(lines: list[OrderLineRecord]) -> tuple[GoodsLine, ...]:
    return tuple(GoodsLine(sku=li.sku, quantity=li.quantity) for li in lines)


def record(uow: UnitOfWork, order_id: str, **facts: str) -> Order | None:
    """Keep what another module reported (payment id, pick id) and move the status to match.
    An order that has already ended ignores late news: returns None."""
    order = load(uow, order_id)
    if order.status in TERMINAL:
        return None
    for name, value in facts.items():
        setattr(order, name, value)
    if "payment_id" in facts:
        uow.cancel_deadlines(order.id, PRICE_HOLD)
    _set_status(uow, order, progress(order))
    return order


def progress(order: Order) -> str:
    """paid, then fetched (ready to ship); in the parallel flow goods may be fetched first,
    and the order stays in its payment phase until paid. A VIP order needs no payment."""
    settled = order.payment_id is not None or order.vip
    if settled and order.pick_id:
        return FETCHED
    if order.payment_id:
        return PAID
    return order.status if order.status in PAYMENT_PHASE else PLACED


def await_clarification(uow: UnitOfWork, order_id: str) -> Order | None:
    order = load(uow, order_id)
    if order.status != PLACED:
        return None
    _set_status(uow, order, PAYMENT_CLARIFICATION)
    return order


def reason_for_failed_payment(payment_reason: str) -> str:
    """Why the order ends when its payment fails: the price hold ran out, or it was declined."""
    return "price_hold_expired" if payment_reason == "price_hold_expired" else "payment_declined"


def unpaid_after_price_hold(uow: UnitOfWork, order_id: str) -> Order | None:
    """The order, if its price hold ended while it was still unpaid. Payment decides whether
    it really was (an answer may have come in time): orders cancels on its PaymentFailed."""
    order = load(uow, order_id)
    if order.status not in PAYMENT_PHASE or order.payment_id or order.vip:
        return None
    return order


def deliver(uow: UnitOfWork, order_id: str) -> Order | None:
    order = load(uow, order_id)
    if order.status in TERMINAL:
        return None
    _set_status(uow, order, DELIVERED)
    uow.publish(OrderDelivered(order_id=order.id))
    return order


def cancel(uow: UnitOfWork, order_id: str, reason: str) -> Order | None:
    order = load(uow, order_id)
    if order.status in TERMINAL:
        return None
    _set_status(uow, order, CANCELLED, reason)
    uow.cancel_deadlines(order.id, PRICE_HOLD)
    uow.publish(OrderCancelled(order_id=order.id, reason=reason))
    return order


def _set_status(uow: UnitOfWork, order: Order, status: str, reason: str | None = None) -> None:
    """Keep the order; a change of status is also written to its history and announced."""
    now = uow.bus.clock.now()
    changed = status != order.status
    order.status, order.reason, order.updated_at = status, reason, now
    uow.session.add(order)
    if changed:
        _record_change(uow, order, now)


def _record_change(uow: UnitOfWork, order: Order, now: datetime,
                   caused_by: str | None = None) -> None:
    """The order's history row and its announcement, in the same transaction."""
    uow.session.add(StatusChange(order_id=order.id, status=order.status, reason=order.reason,
                                 at=now))
    uow.publish(OrderStatusChanged(order_id=order.id, status=order.status, reason=order.reason,
                                   style=order.style, at=now.isoformat()), caused_by=caused_by)
