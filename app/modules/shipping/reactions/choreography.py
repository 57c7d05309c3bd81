"""Choreography: shipping must know the order (for the address, and whether a VIP customer's
parcel may go before payment), payment's event and inventory's: it ships when the goods are
fetched and the payment is in."""

from app.bus import UnitOfWork, calls_outside
from app.modules.inventory.contracts import GoodsFetched
from app.modules.orders.contracts import OrderCancelled, OrderPlaced
from app.modules.payment.contracts import PaymentReceived
from app.modules.shipping import service


def when_order_placed_note_address_and_whether_vip_ships_unpaid(msg: OrderPlaced,
                                                               uow: UnitOfWork) -> None:
    with uow:
        service.note_destination(uow, order_id=msg.order_id, recipient=msg.customer_name,
                                 address=msg.address, needs_payment=not msg.vip)
        uow.commit()


@calls_outside
def when_payment_received_ship_if_goods_are_here(msg: PaymentReceived, uow: UnitOfWork) -> None:
    with uow:
        service.note_paid(uow, order_id=msg.order_id)
        uow.commit()


@calls_outside
def when_goods_fetched_ship_them_once_paid(msg: GoodsFetched, uow: UnitOfWork) -> None:
    with uow:
        service.note_goods(uow, order_id=msg.order_id, pick_id=msg.pick_id)
        uow.commit()


def when_order_cancelled_cancel_shipment(msg: OrderCancelled, uow: UnitOfWork) -> None:
    with uow:
        service.cancel(uow, order_id=msg.order_id)
        uow.commit()


SUBSCRIPTIONS = [
    (OrderPlaced, when_order_placed_note_address_and_whether_vip_ships_unpaid),
    (PaymentReceived, when_payment_received_ship_if_goods_are_here),
    (GoodsFetched, when_goods_fetched_ship_them_once_paid),
    (OrderCancelled, when_order_cancelled_cancel_shipment),
]
