"""Payment's use cases. Each takes an open unit of work; the caller commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select

from app.bus import UnitOfWork
from app.clock import as_utc
from app.modules.payment.contracts import (
    InvoiceDue,
    InvoiceOverdue,
    InvoicePaid,
    InvoiceSent,
    PaymentCancelled,
    PaymentClarificationRequested,
    PaymentFailed,
    PaymentReceived,
    PaymentRefunded,
)
from app.modules.payment.models import (
    APPROVED,
    CANCELLED,
    CLARIFICATION,
    DECLINED,
    OPEN,
    OVERDUE,
    PAID,
    PLANNED,
    RECEIVED,
    REFUNDED,
    REVIEWING,
    Invoice,
    Payment,
    Refund,
    Task,
)
from app.modules.payment.provider import Charge

INVOICE_DUE = "invoice_due"
PRICE_HOLD_EXPIRED = "price_hold_expired"


@dataclass(frozen=True)
class Payer:
    id: str
    name: str


class NotOpen(Exception):
    """A task or invoice that is no longer waiting for this action."""


class ReviewUnderway(RuntimeError):
    """The call centre's answer is being passed to the provider (ADR 0020); whatever depends
    on the payment's outcome is retried once it is recorded."""


class TooLate(NotOpen):
    """The price hold is over: no money is taken any more, the deadline closes the task."""


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


# --- collecting ----------------------------------------------------------------------------------
def collect(uow: UnitOfWork, *, order_id: str, amount_cents: int, method: str, token: str,
            payer: Payer, pay_by: datetime | None) -> Payment:
    """Charge the customer once per order; a second request for the same order changes
    nothing. No money is taken after ``pay_by`` (the price hold's end): a charge that was
    still being retried then fails with ``price_hold_expired``, in every style alike."""
    existing = _payment_for(uow, order_id)
    if existing is not None:
        return existing
    if too_late(uow, pay_by):
        return _decline_too_late(uow, order_id, amount_cents, method, pay_by)
    outcome = uow.adapters.payment_provider.charge(token, amount_cents,
                                                   idempotency_key=f"charge:{order_id}")
    now = uow.bus.clock.now()
    status = {"succeeded": RECEIVED, "declined": DECLINED}.get(outcome.status, CLARIFICATION)
    payment = Payment(id=_new_id("pay"), order_id=order_id, amount_cents=amount_cents,
                      method=method, status=status, charge_id=outcome.charge_id,
                      reason=outcome.reason, pay_by=pay_by, created_at=now, updated_at=now)
    uow.session.add(payment)
    if status == CLARIFICATION:
        _open_clarification(uow, payment, payer)
    else:
        _announce(uow, payment, outcome)
    return payment


def _decline_too_late(uow: UnitOfWork, order_id: str, amount_cents: int, method: str,
                      pay_by: datetime | None) -> Payment:
    """The price hold is over: take nothing. An earlier attempt may have charged and lost
    its answer, so whatever the provider took under this order's key is given back."""
    now = uow.bus.clock.now()
    payment = Payment(id=_new_id("pay"), order_id=order_id, amount_cents=amount_cents,
                      method=method, status=DECLINED, reason=PRICE_HOLD_EXPIRED, pay_by=pay_by,
                      created_at=now, updated_at=now)
    uow.session.add(payment)
    given_back = uow.adapters.payment_provider.void(idempotency_key=f"charge:{order_id}")
    if given_back:
        uow.session.add(Refund(id=_new_id("ref"), payment_id=payment.id, order_id=order_id,
                               amount_cents=given_back, provider_ref="void",
                               created_at=now))
        uow.publish(PaymentRefunded(order_id=order_id, payment_id=payment.id,
                                    amount_cents=given_back))
    uow.publish(PaymentFailed(order_id=order_id, reason=PRICE_HOLD_EXPIRED))
    return payment


def too_late(uow: UnitOfWork, pay_by: datetime | None) -> bool:
    return pay_by is not None and uow.bus.clock.now() >= as_utc(pay_by)


def moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _announce(uow: UnitOfWork, payment: Payment, outcome: Charge) -> None:
    if payment.status == RECEIVED:
        uow.publish(PaymentReceived(order_id=payment.order_id, payment_id=payment.id,
                                    amount_cents=payment.amount_cents))
    else:
        uow.publish(PaymentFailed(order_id=payment.order_id,
                                  reason=outcome.reason or "declined"))


def _open_clarification(uow: UnitOfWork, payment: Payment, payer: Payer) -> Task:
    task = Task(id=_new_id("task"), order_id=payment.order_id, payment_id=payment.id,
                amount_cents=payment.amount_cents, customer_id=payer.id,
                customer_name=payer.name, style=uow.style, opened_by=uow.caused_by,
                opened_at=uow.bus.clock.now())
    uow.session.add(task)
    uow.publish(PaymentClarificationRequested(order_id=payment.order_id, task_id=task.id,
                                              amount_cents=payment.amount_cents))
    return task


def begin_review(uow: UnitOfWork, task_id: str) -> Task:
    """The call centre's answer, first step: record that it is being passed on (the intent;
    the caller commits it), then ``finish_review`` asks the provider outside any transaction.
    The payment row is locked first (as everything that changes a payment does), then the
    task, so an answer and a cancellation of the same order take turns. An answer whose
    second step never ran (a crash) is begun again: same task, same idempotency key."""
    found = uow.session.get(Task, task_id)
    if found is None:
        raise LookupError(f"there is no task {task_id}")
    payment = _payment_for(uow, found.order_id)
    task = _locked(uow, Task, task_id)
    if task.status != OPEN:
        raise NotOpen(f"task {task.id} is {task.status}")
    if payment is None or payment.status not in (CLARIFICATION, REVIEWING):
        raise NotOpen(f"the payment of task {task.id} is not waiting for clarification")
    if payment.status == CLARIFICATION and too_late(uow, payment.pay_by):
        raise TooLate(f"the price hold of order {task.order_id} ended at "
                      f"{as_utc(payment.pay_by).isoformat()}; the order is being cancelled")
    payment.status, payment.updated_at = REVIEWING, uow.bus.clock.now()
    uow.session.add(payment)
    return task


def finish_review(uow: UnitOfWork, task_id: str, *, approved: bool, note: str | None) -> Task:
    """Second step: the provider captures the held charge or lets it go (outside the
    transaction, see app.bus.effects); the outcome, the task and the message commit together."""
    task = _locked(uow, Task, task_id)
    payment = _payment_for(uow, task.order_id)
    if task.status != OPEN or payment is None or payment.status != REVIEWING:
        raise NotOpen(f"task {task_id} is not being reviewed")
    outcome = uow.adapters.payment_provider.review(
        payment.charge_id, payment.amount_cents, approved, idempotency_key=f"review:{task.id}")
    now = uow.bus.clock.now()
    payment.status = RECEIVED if outcome.ok else DECLINED
    payment.reason, payment.updated_at = outcome.reason, now
    task.status = APPROVED if approved else DECLINED
    task.note, task.closed_at = note, now
    uow.session.add_all([payment, task])
    _announce(uow, payment, outcome)
    return task


# --- giving back ----------------------------------------------------------------------------------
def refund(uow: UnitOfWork, *, order_id: str) -> Refund | None:
    """Give back what was collected for an order; nothing happens when nothing was collected."""
    payment = _payment_for(uow, order_id)
    if payment is None or payment.status != RECEIVED:
        return None
    reference = uow.adapters.payment_provider.refund(
        payment.charge_id, payment.amount_cents, idempotency_key=f"refund:{payment.id}")
    now = uow.bus.clock.now()
    payment.status, payment.updated_at = REFUNDED, now
    refund = Refund(id=_new_id("ref"), payment_id=payment.id, order_id=order_id,
                    amount_cents=payment.amount_cents, provider_ref=reference, created_at=now)
    uow.session.add_all([payment, refund])
    uow.publish(PaymentRefunded(order_id=order_id, payment_id=payment.id,
                                amount_cents=payment.amount_cents))
    return refund


def cancel(uow: UnitOfWork, *, order_id: str, reason: str) -> None:
    """The order will not be paid: refund what was collected, stop what is being collected
    (its clarification task closes), cancel its invoice. A request to collect always reaches
    payment before the cancellation (an order's messages arrive in order), so there is never
    a collection to prevent here."""
    payment = _payment_for(uow, order_id)
    _unless_under_review(payment)
    if payment is not None and payment.status == RECEIVED:
        refund(uow, order_id=order_id)
    elif payment is not None and payment.status == CLARIFICATION:
        _stop_collecting(uow, payment, reason)
        uow.publish(PaymentCancelled(order_id=order_id, reason=reason))
    _cancel_invoice(uow, order_id)


def expire(uow: UnitOfWork, *, order_id: str) -> None:
    """The price hold ran out (PriceHoldExpired in choreography, ExpirePayment otherwise). A
    payment still being clarified fails, and the order is cancelled on that; one received in
    time stands. Deciding it here, under the payment row's lock, where the call centre's
    answer is recorded, means the two can never both win, in any style."""
    payment = _payment_for(uow, order_id)
    _unless_under_review(payment)
    if payment is not None and payment.status == CLARIFICATION:
        _stop_collecting(uow, payment, PRICE_HOLD_EXPIRED)
        uow.publish(PaymentFailed(order_id=order_id, reason=PRICE_HOLD_EXPIRED))


def _unless_under_review(payment: Payment | None) -> None:
    """An answer given before the hold ended or the order was cancelled is being recorded:
    this waits for it (the delivery is retried), and then finds the payment settled."""
    if payment is not None and payment.status == REVIEWING:
        raise ReviewUnderway(f"the call centre's answer on order {payment.order_id} is being "
                             "passed to the provider")


def _stop_collecting(uow: UnitOfWork, payment: Payment, reason: str) -> None:
    """Let the held charge go and close its open task."""
    if payment.charge_id:
        uow.adapters.payment_provider.release(payment.charge_id,
                                              idempotency_key=f"release:{payment.id}")
    now = uow.bus.clock.now()
    payment.status, payment.reason, payment.updated_at = CANCELLED, reason, now
    uow.session.add(payment)
    for task in _open_tasks(uow, payment.order_id):
        task.status, task.note, task.closed_at = CANCELLED, f"closed: {reason}", now
        uow.session.add(task)


def _open_tasks(uow: UnitOfWork, order_id: str) -> list[Task]:
    return list(uow.session.exec(select(Task).where(Task.order_id == order_id,
                                                    Task.status == OPEN)
                                 .with_for_update().execution_options(populate_existing=True)))


# --- invoices (pay later) -------------------------------------------------------------------------
def plan_invoice(uow: UnitOfWork, *, order_id: str, amount_cents: int, payer: Payer) -> None:
    """Choreography: note the invoice to send once the goods have shipped."""
    if _invoice_for(uow, order_id) is None:
        uow.session.add(_invoice(uow, order_id, amount_cents, payer, PLANNED))


def send_planned_invoice(uow: UnitOfWork, *, order_id: str) -> Invoice | None:
    invoice = _invoice_for(uow, order_id)
    if invoice is None or invoice.status != PLANNED:
        return None
    return _send(uow, invoice)


def send_invoice(uow: UnitOfWork, *, order_id: str, amount_cents: int, payer: Payer
                 ) -> Invoice:
    invoice = _invoice_for(uow, order_id)
    if invoice is not None:
        return invoice
    return _send(uow, _invoice(uow, order_id, amount_cents, payer, PLANNED))


def _invoice(uow: UnitOfWork, order_id: str, amount_cents: int, payer: Payer, status: str
             ) -> Invoice:
    return Invoice(id=_new_id("inv"), order_id=order_id, amount_cents=amount_cents,
                   customer_id=payer.id, customer_name=payer.name, status=status,
                   style=uow.style, created_at=uow.bus.clock.now())


def _send(uow: UnitOfWork, invoice: Invoice) -> Invoice:
    now = uow.bus.clock.now()
    invoice.status, invoice.sent_at = OPEN, now
    invoice.due_at = now + uow.bus.settings.invoice_term
    uow.session.add(invoice)
    uow.schedule(InvoiceDue(order_id=invoice.order_id, invoice_id=invoice.id),
                 at=invoice.due_at, name=INVOICE_DUE)
    uow.publish(InvoiceSent(order_id=invoice.order_id, invoice_id=invoice.id,
                            amount_cents=invoice.amount_cents, due_at=invoice.due_at.isoformat()))
    return invoice


def dun_if_unpaid(uow: UnitOfWork, *, invoice_id: str) -> None:
    invoice = _locked(uow, Invoice, invoice_id)
    if invoice is None or invoice.status != OPEN:
        return
    invoice.status = OVERDUE
    uow.session.add(invoice)
    uow.publish(InvoiceOverdue(order_id=invoice.order_id, invoice_id=invoice.id,
                               amount_cents=invoice.amount_cents))


def pay_invoice(uow: UnitOfWork, invoice_id: str) -> Invoice:
    invoice = _locked(uow, Invoice, invoice_id)
    if invoice is None:
        raise LookupError(f"there is no invoice {invoice_id}")
    if invoice.status not in (OPEN, OVERDUE):
        raise NotOpen(f"invoice {invoice.id} is {invoice.status}")
    invoice.status, invoice.paid_at = PAID, uow.bus.clock.now()
    uow.session.add(invoice)
    uow.cancel_deadlines(invoice.order_id, INVOICE_DUE)
    uow.publish(InvoicePaid(order_id=invoice.order_id, invoice_id=invoice.id,
                            amount_cents=invoice.amount_cents))
    return invoice


def _cancel_invoice(uow: UnitOfWork, order_id: str) -> None:
    """An invoice only planned was never sent: it goes. A sent one is cancelled."""
    invoice = _invoice_for(uow, order_id)
    if invoice is not None and invoice.status == PLANNED:
        uow.session.delete(invoice)
    elif invoice is not None and invoice.status == OPEN:
        invoice.status = CANCELLED
        uow.session.add(invoice)
        uow.cancel_deadlines(order_id, INVOICE_DUE)


# Rows are read locked (FOR UPDATE on PostgreSQL; SQLite's writer lock covers it): the call
# centre, the operator and the receivers may change the same payment or invoice at once.
def _payment_for(uow: UnitOfWork, order_id: str) -> Payment | None:
    return uow.session.exec(_locking(select(Payment).where(Payment.order_id == order_id))).first()


def _invoice_for(uow: UnitOfWork, order_id: str) -> Invoice | None:
    return uow.session.exec(_locking(select(Invoice).where(Invoice.order_id == order_id))).first()


def _locked(uow: UnitOfWork, model: type[Any], key: str) -> Any:
    return uow.session.exec(_locking(select(model).where(model.id == key))).first()


def _locking(statement: Any) -> Any:
    return statement.with_for_update().execution_options(populate_existing=True)
