"""Choreography: nobody steers. Orders only follows the other modules' events to keep the
order's status, and announces the outcome; it sends no commands."""

from app.bus import UnitOfWork
from app.modules.inventory.contracts import GoodsFetched, GoodsUnavailable
from app.modules.orders import service
from app.modules.orders.models import FETCHED, PAID
from app.modules.payment.contracts import PaymentFailed, PaymentReceived
from app.modules.shipping.contracts import GoodsShipped, ShipmentFailed


def when_payment_received_mark_order_paid(msg: PaymentReceived, uow: UnitOfWork) -> None:
    with uow:
        service.advance(uow, msg.order_id, PAID, payment_id=msg.payment_id)
        uow.commit()


def when_payment_failed_cancel_order(msg: PaymentFailed, uow: UnitOfWork) -> None:
    with uow:
        service.cancel(uow, msg.order_id, "payment_declined")
        uow.commit()


def when_goods_fetched_mark_order_fetched(msg: GoodsFetched, uow: UnitOfWork) -> None:
    with uow:
        service.advance(uow, msg.order_id, FETCHED, pick_id=msg.pick_id)
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
    (PaymentReceived, when_payment_received_mark_order_paid),
    (PaymentFailed, when_payment_failed_cancel_order),
    (GoodsFetched, when_goods_fetched_mark_order_fetched),
    (GoodsUnavailable, when_goods_unavailable_cancel_order),
    (GoodsShipped, when_goods_shipped_mark_order_delivered),
    (ShipmentFailed, when_shipment_failed_cancel_order),
]
SENDS: list = []
