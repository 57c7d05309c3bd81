"""The floor: an order's business writes made by direct function calls, one transaction per
step, with no message log, no delivery records and no inbox.

It writes the same rows to the same module tables as the bus's happy path (order, lines, status
changes, payment, stock, pick, shipment), keeps the order's price hold as a deadline row that
the payment cancels (a business rule every implementation has to store), and calls the same
simulated provider and carrier. What a direct call has in hand it does not read again: the
order object travels from step to step."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select

from app.bus.log import CANCELLED as DEADLINE_CANCELLED
from app.bus.log import DeadlineRecord
from app.clock import Clock
from app.db import Database
from app.modules.inventory.models import FETCHED as PICK_FETCHED
from app.modules.inventory.models import Item, Pick
from app.modules.orders.models import (
    DELIVERED,
    FETCHED,
    PAID,
    PLACED,
    Order,
    OrderLineRecord,
    StatusChange,
)
from app.modules.orders.service import PRICE_HOLD, PlaceOrder, new_order_id
from app.modules.payment.models import RECEIVED, Payment
from app.modules.payment.provider import PaymentProvider
from app.modules.shipping.carrier import Carrier
from app.modules.shipping.models import SHIPPED, Shipment


class FloorFailure(RuntimeError):
    """The direct path could not carry an order to the end (declined, out of stock, refused)."""


@dataclass
class Floor:
    db: Database
    clock: Clock
    provider: PaymentProvider
    carrier: Carrier
    price_hold: timedelta = timedelta(days=7)

    def fulfil(self, request: PlaceOrder) -> str:
        """Seven transactions: place, pay, paid, pick, fetched, ship, delivered."""
        order, lines = self.place(request)
        payment = self.pay(order)
        self.advance(order, PAID, payment_id=payment.id)
        pick = self.pick(order, lines)
        self.advance(order, FETCHED, pick_id=pick.id)
        self.ship(order, pick)
        self.advance(order, DELIVERED)
        return order.id

    def place(self, request: PlaceOrder) -> tuple[Order, list[OrderLineRecord]]:
        with self.db.session() as session:
            skus = [sku for sku, _ in request.items]
            prices = {item.sku: item for item in session.exec(
                select(Item).where(col(Item.sku).in_(skus)))}
            now, customer = self.clock.now(), request.customer
            order = Order(id=new_order_id(), style="floor", status=PLACED,
                          customer_id=customer.id, customer_name=customer.name,
                          address=customer.address, vip=customer.vip,
                          payment_method=request.payment_method,
                          payment_token=request.payment_token, total_cents=0,
                          created_at=now, updated_at=now)
            lines = [OrderLineRecord(order_id=order.id, sku=sku, name=prices[sku].name,
                                     quantity=quantity, unit_price_cents=prices[sku].price_cents)
                     for sku, quantity in request.items]
            order.total_cents = sum(li.quantity * li.unit_price_cents for li in lines)
            session.add_all([order, *lines, StatusChange(order_id=order.id, status=PLACED,
                                                         at=now),
                             DeadlineRecord(flowid=order.id, name=PRICE_HOLD, owner="orders",
                                            style="floor", type="price_hold", data="{}",
                                            due_at=now + self.price_hold, created_at=now)])
            session.commit()
        return order, lines

    def pay(self, order: Order) -> Payment:
        outcome = self.provider.charge(order.payment_token, order.total_cents,
                                       idempotency_key=f"charge:{order.id}")
        if not outcome.ok:
            raise FloorFailure(f"payment {outcome.status} for {order.id}")
        now = self.clock.now()
        payment = Payment(id=f"pay_{uuid.uuid4().hex[:20]}", order_id=order.id,
                          amount_cents=order.total_cents, method=order.payment_method,
                          status=RECEIVED, charge_id=outcome.charge_id, created_at=now,
                          updated_at=now)
        self._insert(payment)
        return payment

    def pick(self, order: Order, lines: list[OrderLineRecord]) -> Pick:
        with self.db.session() as session:
            for line in lines:  # the same conditional UPDATE as inventory's _take_stock
                taken = session.execute(
                    update(Item).where(col(Item.sku) == line.sku, col(Item.stock) >= line.quantity)
                    .values(stock=Item.stock - line.quantity))
                if taken.rowcount != 1:
                    raise FloorFailure(f"{line.sku} is out of stock")
            now = self.clock.now()
            pick = Pick(id=f"pick_{uuid.uuid4().hex[:20]}", order_id=order.id,
                        status=PICK_FETCHED, created_at=now, updated_at=now,
                        lines=[{"sku": li.sku, "quantity": li.quantity} for li in lines])
            session.add(pick)
            session.commit()
        return pick

    def ship(self, order: Order, pick: Pick) -> Shipment:
        consignment = self.carrier.ship(order.customer_name, order.address,
                                        idempotency_key=f"ship:{order.id}")
        if not consignment.accepted:
            raise FloorFailure(f"carrier refused {order.id}")
        shipment = Shipment(id=f"shp_{uuid.uuid4().hex[:20]}", order_id=order.id,
                            pick_id=pick.id, recipient=order.customer_name,
                            address=order.address, status=SHIPPED,
                            tracking_id=consignment.tracking_id, created_at=self.clock.now())
        self._insert(shipment)
        return shipment

    def advance(self, order: Order, status: str, **facts: str) -> None:
        now = self.clock.now()
        for name, value in facts.items():
            setattr(order, name, value)
        order.status, order.updated_at = status, now
        with self.db.session() as session:
            session.add_all([order, StatusChange(order_id=order.id, status=status, at=now)])
            if status == PAID:
                session.execute(update(DeadlineRecord)
                                .where(col(DeadlineRecord.flowid) == order.id,
                                       col(DeadlineRecord.name) == PRICE_HOLD)
                                .values(status=DEADLINE_CANCELLED, closed_at=now))
            session.commit()

    def _insert(self, row: object) -> None:
        with self.db.session() as session:
            session.add(row)
            session.commit()
