"""Hybrid: fulfilment is choreographed. Inventory reacts to the order being released (payment
settled) and to its cancellation; it never hears of payment."""

from app.bus import UnitOfWork
from app.modules.inventory import service
from app.modules.inventory.contracts import GoodsLine
from app.modules.inventory.reactions.choreography import when_order_cancelled_release_goods
from app.modules.orders.contracts import OrderCancelled, OrderReleased


def when_order_released_fetch_goods(msg: OrderReleased, uow: UnitOfWork) -> None:
    with uow:
        service.fetch(uow, order_id=msg.order_id,
                      lines=[GoodsLine(sku=i.sku, quantity=i.quantity) for i in msg.items])
        uow.commit()


SUBSCRIPTIONS = [
    (OrderReleased, when_order_released_fetch_goods),
    (OrderCancelled, when_order_cancelled_release_goods),
]
