"""Choreography: payment must know the orders module's events, and shipping's too, because
here payment itself decides that a VIP customer pays later, by invoice, once the goods have
shipped, and it decides whether the price hold ran out before the call centre's answer (the
module that records the answer is the one that can tell which came first). This file is that
coupling."""

from app.bus import UnitOfWork, calls_outside
from app.modules.orders.contracts import OrderCancelled, OrderPlaced, PriceHoldExpired
from app.modules.payment import service
from app.modules.payment.contracts import InvoiceDue
from app.modules.payment.reactions.orchestration import when_invoice_is_due_dun_if_unpaid
from app.modules.shipping.contracts import GoodsShipped


@calls_outside
def when_order_placed_charge_or_plan_vip_invoice(msg: OrderPlaced, uow: UnitOfWork) -> None:
    """VIP customers are not charged now: their invoice goes out after shipping."""
    payer = service.Payer(id=msg.customer_id, name=msg.customer_name)
    with uow:
        if msg.vip:
            service.plan_invoice(uow, order_id=msg.order_id, amount_cents=msg.total_cents,
                                 payer=payer)
        else:
            service.collect(uow, order_id=msg.order_id, amount_cents=msg.total_cents,
                            method=msg.payment_method, token=msg.payment_token, payer=payer,
                            pay_by=service.moment(msg.pay_by))
        uow.commit()


def when_goods_shipped_send_invoice(msg: GoodsShipped, uow: UnitOfWork) -> None:
    with uow:
        service.send_planned_invoice(uow, order_id=msg.order_id)
        uow.commit()


@calls_outside
def when_price_hold_expired_fail_a_payment_still_in_clarification(msg: PriceHoldExpired,
                                                                  uow: UnitOfWork) -> None:
    with uow:
        service.expire(uow, order_id=msg.order_id)
        uow.commit()


@calls_outside
def when_order_cancelled_cancel_payment(msg: OrderCancelled, uow: UnitOfWork) -> None:
    with uow:
        service.cancel(uow, order_id=msg.order_id, reason=msg.reason)
        uow.commit()


SUBSCRIPTIONS = [
    (OrderPlaced, when_order_placed_charge_or_plan_vip_invoice),
    (GoodsShipped, when_goods_shipped_send_invoice),
    (PriceHoldExpired, when_price_hold_expired_fail_a_payment_still_in_clarification),
    (OrderCancelled, when_order_cancelled_cancel_payment),
    (InvoiceDue, when_invoice_is_due_dun_if_unpaid),
]
