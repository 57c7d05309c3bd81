"""Choreography: shipping must know the order (for the address) and inventory's event."""

from app.bus import UnitOfWork
from app.modules.inventory.contracts import GoodsFetched
from app.modules.orders.contracts import OrderPlaced
from app.modules.shipping import service


def when_order_placed_note_the_address(msg: OrderPlaced, uow: UnitOfWork) -> None:
    with uow:
        service.note_destination(uow, order_id=msg.order_id, recipient=msg.customer_name,
                                 address=msg.address)
        uow.commit()


def when_goods_fetched_ship_them(msg: GoodsFetched, uow: UnitOfWork) -> None:
    with uow:
        service.ship_to_noted_destination(uow, order_id=msg.order_id, pick_id=msg.pick_id)
        uow.commit()


SUBSCRIPTIONS = [
    (OrderPlaced, when_order_placed_note_the_address),
    (GoodsFetched, when_goods_fetched_ship_them),
]
