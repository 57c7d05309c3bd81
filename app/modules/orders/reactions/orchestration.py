"""Orchestration: orders is the conductor. It commands each step, hears every result, joins
the parallel branches, decides that a VIP customer pays later by invoice, and undoes what was
done, in reverse order, when a later step fails or the price hold runs out."""

from app.bus import UnitOfWork
from app.modules.inventory.contracts import (
    FetchGoods,
    GoodsFetched,
    GoodsLine,
    GoodsUnavailable,
    ReleaseGoods,
)
from app.modules.orders import service
from app.modules.orders.contracts import OrderPlaced, PriceHoldExpired
from app.modules.orders.models import PARALLEL, SEQUENTIAL, Order
from app.modules.orders.reactions.choreography import (
    when_payment_needs_clarification_mark_order_waiting,
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
from app.modules.shipping.contracts import GoodsShipped, ShipGoods, ShipmentFailed


def when_order_placed_retrieve_payment_or_fetch_goods(msg: OrderPlaced, uow: UnitOfWork
                                                      ) -> None:
    """VIP: fetch now, invoice later. Parallel: collect the payment and fetch at once."""
    with uow:
        if not msg.vip:
            uow.publish(retrieve_payment(msg))
        if msg.vip or msg.flow == PARALLEL:
            uow.publish(FetchGoods(order_id=msg.order_id, items=tuple(
                GoodsLine(sku=i.sku, quantity=i.quantity) for i in msg.items)))
        uow.commit()


def retrieve_payment(msg: OrderPlaced) -> RetrievePayment:
    return RetrievePayment(order_id=msg.order_id, amount_cents=msg.total_cents,
                           method=msg.payment_method, token=msg.payment_token,
                           customer_id=msg.customer_id, customer_name=msg.customer_name,
                           pay_by=msg.pay_by)


def when_payment_received_fetch_or_ship_goods(msg: PaymentReceived, uow: UnitOfWork) -> None:
    with uow:
        order = service.record(uow, msg.order_id, payment_id=msg.payment_id)
        if order is not None and order.flow == SEQUENTIAL:
            lines = service.lines_of(uow, order.id)
            uow.publish(FetchGoods(order_id=order.id, items=service.goods_lines(lines)))
        elif order is not None and order.pick_id:  # parallel: the goods were here first
            uow.publish(ship_goods(order))
        uow.commit()


def when_goods_fetched_ship_them_once_paid(msg: GoodsFetched, uow: UnitOfWork) -> None:
    with uow:
        order = service.record(uow, msg.order_id, pick_id=msg.pick_id)
        if order is not None and (order.payment_id or order.vip):
            uow.publish(ship_goods(order))
        uow.commit()


def ship_goods(order: Order) -> ShipGoods:
    return ShipGoods(order_id=order.id, pick_id=order.pick_id or "",
                     recipient=order.customer_name, address=order.address)


def when_goods_shipped_deliver_and_invoice_vip(msg: GoodsShipped, uow: UnitOfWork) -> None:
    with uow:
        order = service.deliver(uow, msg.order_id)
        if order is not None and order.vip:
            uow.publish(SendInvoice(order_id=order.id, amount_cents=order.total_cents,
                                    customer_id=order.customer_id,
                                    customer_name=order.customer_name))
        uow.commit()


def when_payment_failed_cancel_order_and_undo(msg: PaymentFailed, uow: UnitOfWork) -> None:
    cancel_and_undo(uow, msg.order_id, service.reason_for_failed_payment(msg.reason))


def when_goods_unavailable_cancel_order_and_undo(msg: GoodsUnavailable, uow: UnitOfWork
                                                 ) -> None:
    cancel_and_undo(uow, msg.order_id, "out_of_stock")


def when_shipment_failed_cancel_order_and_undo(msg: ShipmentFailed, uow: UnitOfWork) -> None:
    cancel_and_undo(uow, msg.order_id, "undeliverable")


def when_price_hold_expired_ask_payment_to_expire(msg: PriceHoldExpired, uow: UnitOfWork
                                                 ) -> None:
    """Payment decides, against the call centre's answer; a failure comes back as
    PaymentFailed (price_hold_expired), and the order is cancelled and undone on that."""
    with uow:
        if service.unpaid_after_price_hold(uow, msg.order_id) is not None:
            uow.publish(ExpirePayment(order_id=msg.order_id))
        uow.commit()


def cancel_and_undo(uow: UnitOfWork, order_id: str, reason: str) -> None:
    with uow:
        undo(uow, service.cancel(uow, order_id, reason))
        uow.commit()


def undo(uow: UnitOfWork, cancelled: Order | None) -> None:
    """Undo in reverse order of doing: the goods go back, then the money."""
    if cancelled is not None:
        release_goods(uow, cancelled)
        undo_payment(uow, cancelled)


PAYMENT_FAILED = ("payment_declined", "price_hold_expired")  # payment ended it: nothing to undo


def release_goods(uow: UnitOfWork, order: Order) -> None:
    """Also when FetchGoods is still on its way (parallel, VIP): inventory handles the order's
    commands in order, so the release comes after the fetch."""
    requested = order.pick_id or order.vip or order.flow == PARALLEL
    if requested and order.reason != "out_of_stock":
        uow.publish(ReleaseGoods(order_id=order.id, pick_id=order.pick_id))


def undo_payment(uow: UnitOfWork, order: Order) -> None:
    """Refund what was collected; stop a collection still under way (a clarification, a
    retry); a declined or VIP order has nothing to give back."""
    if order.payment_id:
        uow.publish(RefundPayment(order_id=order.id, payment_id=order.payment_id,
                                  amount_cents=order.total_cents))
    elif not order.vip and order.reason not in PAYMENT_FAILED:
        uow.publish(CancelPayment(order_id=order.id, reason=order.reason or "cancelled"))


SUBSCRIPTIONS = [
    (OrderPlaced, when_order_placed_retrieve_payment_or_fetch_goods),
    (PaymentClarificationRequested, when_payment_needs_clarification_mark_order_waiting),
    (PaymentReceived, when_payment_received_fetch_or_ship_goods),
    (PaymentFailed, when_payment_failed_cancel_order_and_undo),
    (GoodsFetched, when_goods_fetched_ship_them_once_paid),
    (GoodsUnavailable, when_goods_unavailable_cancel_order_and_undo),
    (GoodsShipped, when_goods_shipped_deliver_and_invoice_vip),
    (ShipmentFailed, when_shipment_failed_cancel_order_and_undo),
    (PriceHoldExpired, when_price_hold_expired_ask_payment_to_expire),
]
SENDS = [RetrievePayment, RefundPayment, CancelPayment, ExpirePayment, SendInvoice, FetchGoods,
         ReleaseGoods, ShipGoods]
