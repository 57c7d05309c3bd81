"""Hybrid: fulfilment is choreographed. Shipping takes the address from the released order and
ships when inventory has fetched the goods."""

from app.bus import UnitOfWork
from app.modules.inventory.contracts import GoodsFetched
from app.modules.orders.contracts import OrderReleased
from app.modules.shipping import service
from app.modules.shipping.reactions.choreography import when_goods_fetched_ship_them


def when_order_released_note_the_address(msg: OrderReleased, uow: UnitOfWork) -> None:
    with uow:
        service.note_destination(uow, order_id=msg.order_id, recipient=msg.recipient,
                                 address=msg.address)
        uow.commit()


SUBSCRIPTIONS = [
    (OrderReleased, when_order_released_note_the_address),
    (GoodsFetched, when_goods_fetched_ship_them),
]
