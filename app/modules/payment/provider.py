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
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from app.sandbox import Ledger


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
    """Its memory (answers by idempotency key, attempts of ``tok_flaky``/``tok_outage``) is
    the sandbox ledger, so it survives our restarts as a real provider's would; the totals
    below count what this process's calls took and gave back (for reports and tests)."""

    def __init__(self, ledger: Ledger, outage_attempts: int = 5) -> None:
        self.ledger = ledger
        self.outage_attempts = outage_attempts
        self._lock = threading.Lock()
        self.charged_cents = 0
        self.refunded_cents = 0
        self.released: set[str] = set()  # charges held for review, then let go

    def charge(self, token: str, amount_cents: int, idempotency_key: str) -> Charge:
        attempt, known = self.ledger.attempt("bank.charge", idempotency_key)
        if known is not None:
            return _charge(known)
        self._fail_transiently(token, attempt)
        outcome = _outcome_for(token)
        kept, new = self.ledger.answer("bank.charge", idempotency_key,
                                       {**asdict(outcome), "amount_cents": amount_cents})
        if new and outcome.ok:
            self._add(charged=amount_cents)
        return _charge(kept)

    def _fail_transiently(self, token: str, attempt: int) -> None:
        if token == "tok_flaky" and attempt <= FLAKY_FAILURES:
            raise TransientProviderError("payment provider timed out (tok_flaky)")
        if token == "tok_outage" and attempt <= self.outage_attempts:
            raise TransientProviderError(
                f"payment provider unavailable (tok_outage, attempt {attempt})")

    def review(self, charge_id: str, amount_cents: int, approved: bool, idempotency_key: str
               ) -> Charge:
        outcome = (Charge("succeeded", charge_id=charge_id) if approved
                   else Charge("declined", charge_id=charge_id, reason="clarification_declined"))
        kept, new = self.ledger.answer("bank.charge", idempotency_key,
                                       {**asdict(outcome), "amount_cents": amount_cents})
        if new and outcome.ok:
            self._add(charged=amount_cents)
        return _charge(kept)

    def release(self, charge_id: str, idempotency_key: str) -> None:
        self.ledger.answer("bank.release", idempotency_key, {"charge_id": charge_id})
        with self._lock:
            self.released.add(charge_id)

    def void(self, idempotency_key: str) -> int:
        charge = self.ledger.known("bank.charge", idempotency_key)
        if charge is None or charge["status"] != "succeeded":
            return 0
        _, new = self.ledger.answer("bank.void", idempotency_key,
                                    {"amount_cents": charge["amount_cents"]})
        if not new:
            return 0
        self._add(refunded=charge["amount_cents"])
        return int(charge["amount_cents"])

    def refund(self, charge_id: str, amount_cents: int, idempotency_key: str) -> str:
        kept, new = self.ledger.answer("bank.refund", idempotency_key,
                                       {"refund_id": f"re_{uuid.uuid4().hex[:16]}"})
        if new:
            self._add(refunded=amount_cents)
        return str(kept["refund_id"])

    def _add(self, charged: int = 0, refunded: int = 0) -> None:
        with self._lock:
            self.charged_cents += charged
            self.refunded_cents += refunded


def _charge(answer: dict[str, Any]) -> Charge:
    return Charge(answer["status"], charge_id=answer.get("charge_id"),
                  reason=answer.get("reason"))


def _outcome_for(token: str) -> Charge:
    if token in ("tok_ok", "tok_flaky", "tok_outage"):
        return Charge("succeeded", charge_id=f"ch_{uuid.uuid4().hex[:16]}")
    if token == "tok_clarify":
        return Charge("needs_clarification", charge_id=f"ch_{uuid.uuid4().hex[:16]}",
                      reason="needs_clarification")
    if token == "tok_decline":
        return Charge("declined", reason="card_declined")
    return Charge("declined", reason="invalid_token")
