"""The payment module's published language: what it accepts and what it announces."""

from __future__ import annotations

from app.bus import Command, Event


class RetrievePayment(Command):
    amount_cents: int
    method: str
    token: str


class RefundPayment(Command):
    payment_id: str
    amount_cents: int


class PaymentReceived(Event):
    payment_id: str
    amount_cents: int


class PaymentFailed(Event):
    reason: str


class PaymentRefunded(Event):
    payment_id: str
    amount_cents: int
