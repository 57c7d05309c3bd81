"""Orchestration: payment handles its own commands and knows nobody else's messages."""

from app.bus import UnitOfWork
from app.modules.payment import service
from app.modules.payment.contracts import RefundPayment, RetrievePayment


def when_asked_to_retrieve_payment_collect_it(msg: RetrievePayment, uow: UnitOfWork) -> None:
    with uow:
        service.collect(uow, order_id=msg.order_id, amount_cents=msg.amount_cents,
                        method=msg.method, token=msg.token)
        uow.commit()


def when_asked_to_refund_payment_refund_it(msg: RefundPayment, uow: UnitOfWork) -> None:
    with uow:
        service.refund(uow, order_id=msg.order_id)
        uow.commit()


SUBSCRIPTIONS = [
    (RetrievePayment, when_asked_to_retrieve_payment_collect_it),
    (RefundPayment, when_asked_to_refund_payment_refund_it),
]
