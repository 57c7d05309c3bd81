"""Choreography: payment must know the orders module's events. This file is that coupling."""

from app.bus import UnitOfWork
from app.modules.orders.contracts import OrderCancelled, OrderPlaced
from app.modules.payment import service


def when_order_placed_collect_payment(msg: OrderPlaced, uow: UnitOfWork) -> None:
    with uow:
        service.collect(uow, order_id=msg.order_id, amount_cents=msg.total_cents,
                        method=msg.payment_method, token=msg.payment_token)
        uow.commit()


def when_order_cancelled_refund_payment(msg: OrderCancelled, uow: UnitOfWork) -> None:
    with uow:
        service.refund(uow, order_id=msg.order_id)
        uow.commit()


SUBSCRIPTIONS = [
    (OrderPlaced, when_order_placed_collect_payment),
    (OrderCancelled, when_order_cancelled_refund_payment),
]
