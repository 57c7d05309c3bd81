"""Hybrid: fulfilment is choreographed. Shipping takes the address from the released order,
and ships when inventory has fetched the goods and, for an order released before it was paid
(the parallel flow), when orders says it is paid. It never hears of payment or VIPs."""

from app.bus import UnitOfWork, calls_outside
from app.modules.inventory.contracts import GoodsFetched
from app.modules.orders.contracts import OrderCancelled, OrderPaid, OrderReleased
from app.modules.shipping import service
from app.modules.shipping.reactions.choreography import (
    when_goods_fetched_ship_them_once_paid,
    when_order_cancelled_cancel_shipment,
)


def when_order_released_note_the_address(msg: OrderReleased, uow: UnitOfWork) -> None:
    with uow:
        service.note_destination(uow, order_id=msg.order_id, recipient=msg.recipient,
                                 address=msg.address, needs_payment=msg.awaiting_payment)
        uow.commit()


@calls_outside
def when_order_paid_ship_if_goods_are_here(msg: OrderPaid, uow: UnitOfWork) -> None:
    with uow:
        service.note_paid(uow, order_id=msg.order_id)
        uow.commit()


SUBSCRIPTIONS = [
    (OrderReleased, when_order_released_note_the_address),
    (OrderPaid, when_order_paid_ship_if_goods_are_here),
    (GoodsFetched, when_goods_fetched_ship_them_once_paid),
    (OrderCancelled, when_order_cancelled_cancel_shipment),
]
