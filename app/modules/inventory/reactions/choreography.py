"""Choreography: inventory must know orders' and payment's events to decide when to act, and
the order's terms too: a VIP order or a parallel flow is fetched as soon as it is placed,
any other once its payment is received."""

from app.bus import UnitOfWork
from app.modules.inventory import service
from app.modules.inventory.contracts import GoodsLine
from app.modules.orders.contracts import OrderCancelled, OrderPlaced
from app.modules.payment.contracts import PaymentReceived


def when_order_placed_note_goods_and_fetch_now_for_vip_or_parallel(msg: OrderPlaced,
                                                                   uow: UnitOfWork) -> None:
    with uow:
        service.expect(uow, order_id=msg.order_id,
                       lines=[GoodsLine(sku=i.sku, quantity=i.quantity) for i in msg.items])
        if msg.vip or msg.flow == "parallel":
            uow.session.flush()
            service.fetch_expected(uow, order_id=msg.order_id)
        uow.commit()


def when_payment_received_fetch_goods(msg: PaymentReceived, uow: UnitOfWork) -> None:
    with uow:
        service.fetch_expected(uow, order_id=msg.order_id)
        uow.commit()


def when_order_cancelled_release_goods(msg: OrderCancelled, uow: UnitOfWork) -> None:
    with uow:
        service.forget_expected(uow, order_id=msg.order_id)
        service.release(uow, order_id=msg.order_id)
        uow.commit()


SUBSCRIPTIONS = [
    (OrderPlaced, when_order_placed_note_goods_and_fetch_now_for_vip_or_parallel),
    (PaymentReceived, when_payment_received_fetch_goods),
    (OrderCancelled, when_order_cancelled_release_goods),
]
