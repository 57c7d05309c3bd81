"""Hybrid, "overall choreography, local orchestration": orders turns its own event into a
command for payment and owns the payment phase and its deadline; it releases the order to
fulfilment (at once for VIP customers and in the parallel flow), and inventory and shipping
choreograph the fulfilment from there. Orders follows their events and invoices VIPs."""

from app.bus import UnitOfWork
from app.modules.inventory.contracts import GoodsFetched, GoodsUnavailable
from app.modules.orders import service
from app.modules.orders.contracts import (
    OrderPaid,
    OrderPlaced,
    OrderReleased,
    PriceHoldExpired,
)
from app.modules.orders.models import PARALLEL, SEQUENTIAL, Order
from app.modules.orders.reactions.choreography import (
    when_goods_fetched_mark_order_fetched,
    when_payment_failed_cancel_order,
    when_payment_needs_clarification_mark_order_waiting,
)
from app.modules.orders.reactions.orchestration import (
    retrieve_payment,
    undo_payment,
    when_goods_shipped_deliver_and_invoice_vip,
    when_price_hold_expired_ask_payment_to_expire,
)
from app.modules.payment.contracts import (
    CancelPayment,
    ExpirePayment,
    PaymentClarificationRequested,
    PaymentFailed,
    PaymentReceived,
    RefundPayment,
    RetrievePayment,
    SendInvoice,
)
from app.modules.shipping.contracts import GoodsShipped, ShipmentFailed


def when_order_placed_retrieve_payment_or_release_order(msg: OrderPlaced, uow: UnitOfWork
                                                        ) -> None:
    """VIP: released at once, invoiced later. Parallel: released for picking while the
    payment is collected; the parcel waits for OrderPaid."""
    with uow:
        if not msg.vip:
            uow.publish(retrieve_payment(msg))
        if msg.vip or msg.flow == PARALLEL:
            order = service.load(uow, msg.order_id)
            uow.publish(order_released(uow, order, awaiting_payment=not msg.vip))
        uow.commit()


def when_payment_received_release_order(msg: PaymentReceived, uow: UnitOfWork) -> None:
    with uow:
        order = service.record(uow, msg.order_id, payment_id=msg.payment_id)
        if order is not None and order.flow == SEQUENTIAL:
            uow.publish(order_released(uow, order, awaiting_payment=False))
        elif order is not None:
            uow.publish(OrderPaid(order_id=order.id))
        uow.commit()


def order_released(uow: UnitOfWork, order: Order, *, awaiting_payment: bool) -> OrderReleased:
    lines = service.lines_of(uow, order.id)
    return OrderReleased(order_id=order.id, items=service.order_lines(lines),
                         recipient=order.customer_name, address=order.address,
                         awaiting_payment=awaiting_payment)


def when_goods_unavailable_cancel_order_and_undo_payment(msg: GoodsUnavailable, uow: UnitOfWork
                                                         ) -> None:
    cancel_and_undo_payment(uow, msg.order_id, "out_of_stock")


def when_shipment_failed_cancel_order_and_undo_payment(msg: ShipmentFailed, uow: UnitOfWork
                                                       ) -> None:
    """Inventory puts the goods back on its own when it hears OrderCancelled."""
    cancel_and_undo_payment(uow, msg.order_id, "undeliverable")


def cancel_and_undo_payment(uow: UnitOfWork, order_id: str, reason: str) -> None:
    with uow:
        order = service.cancel(uow, order_id, reason)
        if order is not None:
            undo_payment(uow, order)
        uow.commit()


SUBSCRIPTIONS = [
    (OrderPlaced, when_order_placed_retrieve_payment_or_release_order),
    (PaymentClarificationRequested, when_payment_needs_clarification_mark_order_waiting),
    (PaymentReceived, when_payment_received_release_order),
    (PaymentFailed, when_payment_failed_cancel_order),
    (GoodsFetched, when_goods_fetched_mark_order_fetched),
    (GoodsUnavailable, when_goods_unavailable_cancel_order_and_undo_payment),
    (GoodsShipped, when_goods_shipped_deliver_and_invoice_vip),
    (ShipmentFailed, when_shipment_failed_cancel_order_and_undo_payment),
    (PriceHoldExpired, when_price_hold_expired_ask_payment_to_expire),
]
SENDS = [RetrievePayment, RefundPayment, CancelPayment, ExpirePayment, SendInvoice]
