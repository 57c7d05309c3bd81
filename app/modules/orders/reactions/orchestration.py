"""Orchestration: orders is the conductor. It commands each step, hears every result, and
undoes what was done when a later step fails."""

from app.bus import UnitOfWork
from app.modules.inventory.contracts import (
    FetchGoods,
    GoodsFetched,
    GoodsUnavailable,
    ReleaseGoods,
)
from app.modules.orders import service
from app.modules.orders.contracts import OrderPlaced
from app.modules.orders.models import FETCHED, PAID, Order
from app.modules.orders.reactions.choreography import (
    when_goods_shipped_mark_order_delivered,
    when_payment_failed_cancel_order,
)
from app.modules.payment.contracts import (
    PaymentFailed,
    PaymentReceived,
    RefundPayment,
    RetrievePayment,
)
from app.modules.shipping.contracts import GoodsShipped, ShipGoods, ShipmentFailed


def when_order_placed_retrieve_payment(msg: OrderPlaced, uow: UnitOfWork) -> None:
    with uow:
        uow.publish(RetrievePayment(order_id=msg.order_id, amount_cents=msg.total_cents,
                                    method=msg.payment_method, token=msg.payment_token))
        uow.commit()


def when_payment_received_fetch_goods(msg: PaymentReceived, uow: UnitOfWork) -> None:
    with uow:
        order = service.advance(uow, msg.order_id, PAID, payment_id=msg.payment_id)
        if order is not None:
            lines = service.lines_of(uow, order.id)
            uow.publish(FetchGoods(order_id=order.id, items=service.goods_lines(lines)))
        uow.commit()


def when_goods_fetched_ship_goods(msg: GoodsFetched, uow: UnitOfWork) -> None:
    with uow:
        order = service.advance(uow, msg.order_id, FETCHED, pick_id=msg.pick_id)
        if order is not None:
            uow.publish(ShipGoods(order_id=order.id, pick_id=msg.pick_id,
                                  recipient=order.customer_name, address=order.address))
        uow.commit()


def when_goods_unavailable_cancel_order_and_refund(msg: GoodsUnavailable, uow: UnitOfWork
                                                   ) -> None:
    with uow:
        order = service.cancel(uow, msg.order_id, "out_of_stock")
        if order is not None:
            refund_payment(uow, order)
        uow.commit()


def when_shipment_failed_cancel_order_and_undo_fulfilment(msg: ShipmentFailed, uow: UnitOfWork
                                                          ) -> None:
    with uow:
        order = service.cancel(uow, msg.order_id, "undeliverable")
        if order is not None:
            if order.pick_id:
                uow.publish(ReleaseGoods(order_id=order.id, pick_id=order.pick_id))
            refund_payment(uow, order)
        uow.commit()


def refund_payment(uow: UnitOfWork, order: Order) -> None:
    if order.payment_id:
        uow.publish(RefundPayment(order_id=order.id, payment_id=order.payment_id,
                                  amount_cents=order.total_cents))


SUBSCRIPTIONS = [
    (OrderPlaced, when_order_placed_retrieve_payment),
    (PaymentReceived, when_payment_received_fetch_goods),
    (PaymentFailed, when_payment_failed_cancel_order),
    (GoodsFetched, when_goods_fetched_ship_goods),
    (GoodsUnavailable, when_goods_unavailable_cancel_order_and_refund),
    (GoodsShipped, when_goods_shipped_mark_order_delivered),
    (ShipmentFailed, when_shipment_failed_cancel_order_and_undo_fulfilment),
]
SENDS = [RetrievePayment, RefundPayment, FetchGoods, ReleaseGoods, ShipGoods]
