"""The payment module's published language: what it accepts and what it announces."""

from __future__ import annotations

from typing import ClassVar

from app.bus import Command, Event


class RetrievePayment(Command):
    amount_cents: int
    method: str
    token: str
    # Added with the long-running flows; the defaults let messages logged before still be read.
    customer_id: str = ""
    customer_name: str = ""
    pay_by: str | None = None  # ISO-8601: no money is taken after this (the price hold's end)


class RefundPayment(Command):
    undoes: ClassVar[bool] = True
    payment_id: str
    amount_cents: int


class CancelPayment(Command):
    """This order will not be paid: stop collecting (close an open clarification) and give
    back whatever was collected."""

    undoes: ClassVar[bool] = True
    reason: str


class ExpirePayment(Command):
    """The price hold is over: fail the payment unless it was collected in time."""


class SendInvoice(Command):
    """Pay later: invoice the customer, due after the invoice term."""

    amount_cents: int
    customer_id: str
    customer_name: str


class PaymentClarificationRequested(Event):
    """The provider held the charge; a person must clarify it (task ``task_id``)."""

    task_id: str
    amount_cents: int


class PaymentReceived(Event):
    payment_id: str
    amount_cents: int


class PaymentFailed(Event):
    reason: str


class PaymentRefunded(Event):
    undoes: ClassVar[bool] = True
    payment_id: str
    amount_cents: int


class PaymentCancelled(Event):
    """A payment that was still being collected will not be: nothing was taken."""

    undoes: ClassVar[bool] = True
    reason: str


class InvoiceSent(Event):
    invoice_id: str
    amount_cents: int
    due_at: str  # ISO-8601


class InvoiceDue(Event):
    """Payment's own deadline: the invoice's due date has come."""

    invoice_id: str


class InvoiceOverdue(Event):
    """Dunning: the invoice is past due and unpaid (shipped goods are not recalled)."""

    invoice_id: str
    amount_cents: int


class InvoicePaid(Event):
    invoice_id: str
    amount_cents: int
