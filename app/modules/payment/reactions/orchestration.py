"""Orchestration: payment handles its own commands and knows nobody else's messages. Whether a
customer pays now or by invoice is the sender's decision."""

from app.bus import UnitOfWork, calls_outside
from app.modules.payment import service
from app.modules.payment.contracts import (
    CancelPayment,
    ExpirePayment,
    InvoiceDue,
    RefundPayment,
    RetrievePayment,
    SendInvoice,
)


@calls_outside
def when_asked_to_retrieve_payment_collect_it(msg: RetrievePayment, uow: UnitOfWork) -> None:
    with uow:
        service.collect(uow, order_id=msg.order_id, amount_cents=msg.amount_cents,
                        method=msg.method, token=msg.token,
                        payer=service.Payer(id=msg.customer_id, name=msg.customer_name),
                        pay_by=service.moment(msg.pay_by))
        uow.commit()


@calls_outside
def when_asked_to_refund_payment_refund_it(msg: RefundPayment, uow: UnitOfWork) -> None:
    with uow:
        service.refund(uow, order_id=msg.order_id)
        uow.commit()


@calls_outside
def when_asked_to_cancel_payment_stop_and_give_back(msg: CancelPayment, uow: UnitOfWork) -> None:
    with uow:
        service.cancel(uow, order_id=msg.order_id, reason=msg.reason)
        uow.commit()


@calls_outside
def when_asked_to_expire_payment_fail_it_unless_collected(msg: ExpirePayment,
                                                          uow: UnitOfWork) -> None:
    with uow:
        service.expire(uow, order_id=msg.order_id)
        uow.commit()


def when_asked_to_send_invoice_send_it(msg: SendInvoice, uow: UnitOfWork) -> None:
    with uow:
        service.send_invoice(uow, order_id=msg.order_id, amount_cents=msg.amount_cents,
                             payer=service.Payer(id=msg.customer_id, name=msg.customer_name))
        uow.commit()


def when_invoice_is_due_dun_if_unpaid(msg: InvoiceDue, uow: UnitOfWork) -> None:
    with uow:
        service.dun_if_unpaid(uow, invoice_id=msg.invoice_id)
        uow.commit()


SUBSCRIPTIONS = [
    (RetrievePayment, when_asked_to_retrieve_payment_collect_it),
    (RefundPayment, when_asked_to_refund_payment_refund_it),
    (CancelPayment, when_asked_to_cancel_payment_stop_and_give_back),
    (ExpirePayment, when_asked_to_expire_payment_fail_it_unless_collected),
    (SendInvoice, when_asked_to_send_invoice_send_it),
    (InvoiceDue, when_invoice_is_due_dun_if_unpaid),
]
