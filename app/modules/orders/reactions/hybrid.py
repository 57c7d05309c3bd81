"""Hybrid, "overall choreography, local orchestration": orders turns its own event into a
command for payment and owns the payment phase; once paid it releases the order, and inventory
and shipping choreograph the fulfilment from there. Orders only follows their events."""

from app.bus import UnitOfWork
from app.modules.inventory.contracts import GoodsFetched, GoodsUnavailable
from app.modules.orders import service
from app.modules.orders.contracts import OrderPlaced, OrderReleased
from app.modules.orders.models import PAID
from app.modules.orders.reactions.choreography import (
    when_goods_fetched_mark_order_fetched,
    when_goods_shipped_mark_order_delivered,
    when_payment_failed_cancel_order,
)
from app.modules.orders.reactions.orchestration import (
    refund_payment,
    when_goods_unavailable_cancel_order_and_refund,
    when_order_placed_retrieve_payment,
)
from app.modules.payment.contracts import (
    PaymentFailed,
    PaymentReceived,
    RefundPayment,
    RetrievePayment,
)
from app.modules.shipping.contracts import GoodsShipped, ShipmentFailed


def when_payment_received_release_order(msg: PaymentReceived, uow: UnitOfWork) -> None:
    with uow:
        order = service.advance(uow, msg.order_id, PAID, payment_id=msg.payment_id)
        if order is not None:
            lines = service.lines_of(uow, order.id)
            uow.publish(OrderReleased(order_id=order.id, items=service.order_lines(lines),
                                      recipient=order.customer_name, address=order.address))
        uow.commit()


def when_shipment_failed_cancel_order_and_refund(msg: ShipmentFailed, uow: UnitOfWork) -> None:
    """Inventory puts the goods back on its own when it hears OrderCancelled."""
    with uow:
        order = service.cancel(uow, msg.order_id, "undeliverable")
        if order is not None:
            refund_payment(uow, order)
        uow.commit()


SUBSCRIPTIONS = [
    (OrderPlaced, when_order_placed_retrieve_payment),
    (PaymentReceived, when_payment_received_release_order),
    (PaymentFailed, when_payment_failed_cancel_order),
    (GoodsFetched, when_goods_fetched_mark_order_fetched),
    (GoodsUnavailable, when_goods_unavailable_cancel_order_and_refund),
    (GoodsShipped, when_goods_shipped_mark_order_delivered),
    (ShipmentFailed, when_shipment_failed_cancel_order_and_refund),
]
SENDS = [RetrievePayment, RefundPayment]
