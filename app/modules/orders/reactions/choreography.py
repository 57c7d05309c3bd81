"""Choreography: nobody steers. Orders only follows the other modules' events to keep the
order's status and announces the outcome; it sends no commands. It sets the price-hold
deadline when the order is placed, but payment is the one that hears it run out. Undoing is
everyone's own business: each module hears OrderCancelled."""

from app.bus import UnitOfWork
from app.modules.inventory.contracts import GoodsFetched, GoodsUnavailable
from app.modules.orders import service
from app.modules.payment.contracts import (
    PaymentClarificationRequested,
    PaymentFailed,
    PaymentReceived,
)
from app.modules.shipping.contracts import GoodsShipped, ShipmentFailed


def when_payment_received_mark_order_paid(msg: PaymentReceived, uow: UnitOfWork) -> None:
    with uow:
        service.record(uow, msg.order_id, payment_id=msg.payment_id)
        uow.commit()


def when_payment_needs_clarification_mark_order_waiting(
        msg: PaymentClarificationRequested, uow: UnitOfWork) -> None:
    with uow:
        service.await_clarification(uow, msg.order_id)
        uow.commit()


def when_payment_failed_cancel_order(msg: PaymentFailed, uow: UnitOfWork) -> None:
    with uow:
        service.cancel(uow, msg.order_id, service.reason_for_failed_payment(msg.reason))
        uow.commit()


def when_goods_fetched_mark_order_fetched(msg: GoodsFetched, uow: UnitOfWork) -> None:
    with uow:
        service.record(uow, msg.order_id, pick_id=msg.pick_id)
        uow.commit()


def when_goods_unavailable_cancel_order(msg: GoodsUnavailable, uow: UnitOfWork) -> None:
    with uow:
        service.cancel(uow, msg.order_id, "out_of_stock")
        uow.commit()


def when_goods_shipped_mark_order_delivered(msg: GoodsShipped, uow: UnitOfWork) -> None:
    with uow:
        service.deliver(uow, msg.order_id)
        uow.commit()


def when_shipment_failed_cancel_order(msg: ShipmentFailed, uow: UnitOfWork) -> None:
    with uow:
        service.cancel(uow, msg.order_id, "undeliverable")
        uow.commit()


SUBSCRIPTIONS = [
    (PaymentClarificationRequested, when_payment_needs_clarification_mark_order_waiting),
    (PaymentReceived, when_payment_received_mark_order_paid),
    (PaymentFailed, when_payment_failed_cancel_order),
    (GoodsFetched, when_goods_fetched_mark_order_fetched),
    (GoodsUnavailable, when_goods_unavailable_cancel_order),
    (GoodsShipped, when_goods_shipped_mark_order_delivered),
    (ShipmentFailed, when_shipment_failed_cancel_order),
]
SENDS: list = []
