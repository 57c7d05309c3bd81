"""Payment's use cases. Each takes an open unit of work; the caller commits."""

from __future__ import annotations

import uuid

from sqlmodel import select

from app.bus import UnitOfWork
from app.modules.payment.contracts import PaymentFailed, PaymentReceived, PaymentRefunded
from app.modules.payment.models import CLARIFICATION, DECLINED, RECEIVED, REFUNDED, Payment, Refund


def collect(uow: UnitOfWork, *, order_id: str, amount_cents: int, method: str, token: str
            ) -> Payment:
    """Charge the customer once per order; a second request for the same order changes nothing."""
    existing = _payment_for(uow, order_id)
    if existing is not None:
        return existing
    outcome = uow.adapters.payment_provider.charge(token, amount_cents,
                                                   idempotency_key=f"charge:{order_id}")
    now = uow.bus.clock.now()
    status = {"succeeded": RECEIVED, "declined": DECLINED}.get(outcome.status, CLARIFICATION)
    payment = Payment(id=f"pay_{uuid.uuid4().hex[:20]}", order_id=order_id,
                      amount_cents=amount_cents, method=method, status=status,
                      charge_id=outcome.charge_id, reason=outcome.reason,
                      created_at=now, updated_at=now)
    uow.session.add(payment)
    if status == RECEIVED:
        uow.publish(PaymentReceived(order_id=order_id, payment_id=payment.id,
                                    amount_cents=amount_cents))
    elif status == DECLINED:
        uow.publish(PaymentFailed(order_id=order_id, reason=outcome.reason or "declined"))
    return payment


def refund(uow: UnitOfWork, *, order_id: str) -> Refund | None:
    """Give back what was collected for an order; nothing happens when nothing was collected."""
    payment = _payment_for(uow, order_id)
    if payment is None or payment.status != RECEIVED:
        return None
    reference = uow.adapters.payment_provider.refund(
        payment.charge_id, payment.amount_cents, idempotency_key=f"refund:{payment.id}")
    now = uow.bus.clock.now()
    payment.status, payment.updated_at = REFUNDED, now
    refund = Refund(id=f"ref_{uuid.uuid4().hex[:20]}", payment_id=payment.id,
                    order_id=order_id, amount_cents=payment.amount_cents,
                    provider_ref=reference, created_at=now)
    uow.session.add_all([payment, refund])
    uow.publish(PaymentRefunded(order_id=order_id, payment_id=payment.id,
                                amount_cents=payment.amount_cents))
    return refund


def _payment_for(uow: UnitOfWork, order_id: str) -> Payment | None:
    return uow.session.exec(select(Payment).where(Payment.order_id == order_id)).first()
