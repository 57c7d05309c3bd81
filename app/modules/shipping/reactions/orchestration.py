"""Orchestration: shipping handles its own command and knows nobody else's messages."""

from app.bus import UnitOfWork, calls_outside
from app.modules.shipping import service
from app.modules.shipping.contracts import ShipGoods


@calls_outside
def when_asked_to_ship_goods_hand_them_to_the_carrier(msg: ShipGoods, uow: UnitOfWork) -> None:
    with uow:
        service.ship(uow, order_id=msg.order_id, pick_id=msg.pick_id, recipient=msg.recipient,
                     address=msg.address)
        uow.commit()


SUBSCRIPTIONS = [(ShipGoods, when_asked_to_ship_goods_hand_them_to_the_carrier)]
