"""A simulated card processor with deterministic test tokens, like a real processor's sandbox.

``tok_ok`` succeeds, ``tok_decline`` is declined, ``tok_flaky`` fails transiently twice per
idempotency key and then succeeds, ``tok_outage`` fails transiently for ``outage_attempts``
attempts (all the automatic ones) and answers the operator's retry after that, ``tok_clarify``
is held for review: a person (the call centre) approves or declines it later. Any other token
is declined as invalid. Calls with the same idempotency key return the first answer, so a
retried charge never takes the money twice."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Protocol


class TransientProviderError(RuntimeError):
    """The provider could not answer this time; the same call may succeed later."""


@dataclass(frozen=True)
class Charge:
    status: str  # succeeded | declined | needs_clarification (held for review)
    charge_id: str | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"


class PaymentProvider(Protocol):
    def charge(self, token: str, amount_cents: int, idempotency_key: str) -> Charge: ...

    def review(self, charge_id: str, amount_cents: int, approved: bool, idempotency_key: str
               ) -> Charge:
        """Settle a charge that was held for review: capture it, or let it go."""
        ...

    def release(self, charge_id: str, idempotency_key: str) -> None:
        """Let a charge held for review go: nothing will be taken."""
        ...

    def void(self, idempotency_key: str) -> int:
        """Give back whatever a charge made under this key took, if it took anything (its
        answer may have been lost); returns the cents given back."""
        ...

    def refund(self, charge_id: str, amount_cents: int, idempotency_key: str) -> str: ...


FLAKY_FAILURES = 2


class SimulatedPaymentProvider:
    def __init__(self, outage_attempts: int = 5) -> None:
        self.outage_attempts = outage_attempts
        self._lock = threading.Lock()
        self._charges: dict[str, Charge] = {}
        self._refunds: dict[str, str] = {}
        self._attempts: Counter[str] = Counter()
        self.charged_cents = 0
        self.refunded_cents = 0
        self.released: set[str] = set()  # charges held for review, then let go
        self._amounts: dict[str, int] = {}
        self._voided: set[str] = set()

    def charge(self, token: str, amount_cents: int, idempotency_key: str) -> Charge:
        with self._lock:
            if idempotency_key in self._charges:
                return self._charges[idempotency_key]
            self._attempts[idempotency_key] += 1
            self._fail_transiently(token, self._attempts[idempotency_key])
            outcome = _outcome_for(token)
            if outcome.ok:
                self.charged_cents += amount_cents
            self._charges[idempotency_key] = outcome
            self._amounts[idempotency_key] = amount_cents
            return outcome

    def _fail_transiently(self, token: str, attempt: int) -> None:
        if token == "tok_flaky" and attempt <= FLAKY_FAILURES:
            raise TransientProviderError("payment provider timed out (tok_flaky)")
        if token == "tok_outage" and attempt <= self.outage_attempts:
            raise TransientProviderError(
                f"payment provider unavailable (tok_outage, attempt {attempt})")

    def review(self, charge_id: str, amount_cents: int, approved: bool, idempotency_key: str
               ) -> Charge:
        with self._lock:
            if idempotency_key in self._charges:
                return self._charges[idempotency_key]
            if approved:
                self.charged_cents += amount_cents
                outcome = Charge("succeeded", charge_id=charge_id)
            else:
                outcome = Charge("declined", charge_id=charge_id, reason="clarification_declined")
            self._charges[idempotency_key] = outcome
            return outcome

    def release(self, charge_id: str, idempotency_key: str) -> None:
        with self._lock:
            self.released.add(charge_id)

    def void(self, idempotency_key: str) -> int:
        with self._lock:
            charge = self._charges.get(idempotency_key)
            if charge is None or not charge.ok or idempotency_key in self._voided:
                return 0
            self._voided.add(idempotency_key)
            amount = self._amounts[idempotency_key]
            self.refunded_cents += amount
            return amount

    def refund(self, charge_id: str, amount_cents: int, idempotency_key: str) -> str:
        with self._lock:
            if idempotency_key not in self._refunds:
                self._refunds[idempotency_key] = f"re_{uuid.uuid4().hex[:16]}"
                self.refunded_cents += amount_cents
            return self._refunds[idempotency_key]


def _outcome_for(token: str) -> Charge:
    if token in ("tok_ok", "tok_flaky", "tok_outage"):
        return Charge("succeeded", charge_id=f"ch_{uuid.uuid4().hex[:16]}")
    if token == "tok_clarify":
        return Charge("needs_clarification", charge_id=f"ch_{uuid.uuid4().hex[:16]}",
                      reason="needs_clarification")
    if token == "tok_decline":
        return Charge("declined", reason="card_declined")
    return Charge("declined", reason="invalid_token")
