"""A simulated card processor with deterministic test tokens, like a real processor's sandbox.

``tok_ok`` succeeds, ``tok_decline`` is declined, ``tok_flaky`` fails transiently twice per
idempotency key and then succeeds, ``tok_outage`` fails transiently for ``outage_attempts``
attempts (all the automatic ones) and answers the operator's retry after that, ``tok_slow``
succeeds after ``ORDERFLOW_SLOW_TOKEN_LATENCY`` (a retry with the same key is answered at
once: the charge was booked when it began), ``tok_clarify``
is held for review: a person (the call centre) approves or declines it later. Any other token
is declined as invalid. Calls with the same idempotency key return the first answer, so a
retried charge never takes the money twice.

It stands for another system, so it keeps its books as one would: in its own tables
(``sim_provider_*``, in our database for convenience), each call in a short transaction of its
own. Its keys, attempt counts and answers outlive our processes, as a real provider's do."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import BigInteger, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

from app.db import Database


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


class SimCharge(SQLModel, table=True):
    """A charge (or a review's capture) under its idempotency key, with its answer."""

    __tablename__ = "sim_provider_charge"

    idempotency_key: str = Field(primary_key=True, max_length=200)
    status: str = Field(max_length=30)
    charge_id: str | None = Field(default=None, max_length=60)
    reason: str | None = Field(default=None, max_length=60)
    amount_cents: int = Field(default=0, sa_type=BigInteger)  # taken, when it succeeded
    voided: bool = False


class SimAttempt(SQLModel, table=True):
    """How often a key was tried without an answer (``tok_flaky``, ``tok_outage``)."""

    __tablename__ = "sim_provider_attempt"

    idempotency_key: str = Field(primary_key=True, max_length=200)
    attempts: int = 0


class SimRefund(SQLModel, table=True):
    """Money given back under an idempotency key: refunds, and voids (``void:<key>``)."""

    __tablename__ = "sim_provider_refund"

    idempotency_key: str = Field(primary_key=True, max_length=200)
    refund_id: str = Field(max_length=60)
    amount_cents: int = Field(sa_type=BigInteger)


class SimRelease(SQLModel, table=True):
    """A charge held for review, then let go."""

    __tablename__ = "sim_provider_release"

    charge_id: str = Field(primary_key=True, max_length=60)


class SimulatedPaymentProvider:
    def __init__(self, db: Database, outage_attempts: int = 5,
                 slow_latency: timedelta = timedelta(seconds=30)) -> None:
        self.db = db
        self.outage_attempts = outage_attempts
        self.slow_seconds = slow_latency.total_seconds()

    @contextmanager
    def _books(self) -> Iterator[Session]:
        """One call, one short transaction of the provider's own. Two calls racing for one
        key: the loser's is a transient failure, and its retry finds the winner's answer."""
        with self.db.session() as session:
            try:
                yield session
                session.commit()
            except IntegrityError as error:
                raise TransientProviderError("payment provider busy, try again") from error

    def charge(self, token: str, amount_cents: int, idempotency_key: str) -> Charge:
        with self._books() as session:
            known = _locked(session, SimCharge, idempotency_key)
            if known is not None:
                return _answer(known)
            failure = self._failure(token, _next_attempt(session, idempotency_key))
            outcome = _outcome_for(token)
            if failure is None:
                session.add(_recorded(idempotency_key, outcome,
                                      amount_cents if outcome.ok else 0))
        if failure is not None:  # raised after the commit: the attempt counts
            raise failure
        if token == "tok_slow":  # decided and booked at once, answered late (once per key)
            time.sleep(self.slow_seconds)
        return outcome

    def _failure(self, token: str, attempt: int) -> TransientProviderError | None:
        if token == "tok_flaky" and attempt <= FLAKY_FAILURES:
            return TransientProviderError("payment provider timed out (tok_flaky)")
        if token == "tok_outage" and attempt <= self.outage_attempts:
            return TransientProviderError(
                f"payment provider unavailable (tok_outage, attempt {attempt})")
        return None

    def review(self, charge_id: str, amount_cents: int, approved: bool, idempotency_key: str
               ) -> Charge:
        with self._books() as session:
            known = _locked(session, SimCharge, idempotency_key)
            if known is not None:
                return _answer(known)
            outcome = (Charge("succeeded", charge_id=charge_id) if approved else
                       Charge("declined", charge_id=charge_id, reason="clarification_declined"))
            session.add(_recorded(idempotency_key, outcome, amount_cents if approved else 0))
            return outcome

    def release(self, charge_id: str, idempotency_key: str) -> None:
        with self._books() as session:
            if session.get(SimRelease, charge_id) is None:
                session.add(SimRelease(charge_id=charge_id))

    def void(self, idempotency_key: str) -> int:
        with self._books() as session:
            charge = _locked(session, SimCharge, idempotency_key)
            if charge is None or charge.status != "succeeded" or charge.voided:
                return 0
            charge.voided = True
            session.add_all([charge, SimRefund(idempotency_key=f"void:{idempotency_key}",
                                               refund_id="void",
                                               amount_cents=charge.amount_cents)])
            return charge.amount_cents

    def refund(self, charge_id: str, amount_cents: int, idempotency_key: str) -> str:
        with self._books() as session:
            known = _locked(session, SimRefund, idempotency_key)
            if known is not None:
                return known.refund_id
            refund = SimRefund(idempotency_key=idempotency_key,
                               refund_id=f"re_{uuid.uuid4().hex[:16]}", amount_cents=amount_cents)
            session.add(refund)
            return refund.refund_id

    # --- what the bank holds: the tests' and the simulation's view of the money ---------------
    @property
    def charged_cents(self) -> int:
        return self._sum(SimCharge.amount_cents)

    @property
    def refunded_cents(self) -> int:
        return self._sum(SimRefund.amount_cents)

    @property
    def released(self) -> set[str]:
        with self.db.reading() as session:
            return set(session.exec(select(SimRelease.charge_id)))

    def _sum(self, column: Any) -> int:
        with self.db.reading() as session:
            return int(session.exec(select(func.coalesce(func.sum(column), 0))).one())


def _locked(session: Session, model: type[Any], key: str) -> Any:
    """Locked for the call (FOR UPDATE on PostgreSQL; SQLite's writer lock covers it)."""
    return session.exec(select(model).where(model.idempotency_key == key)
                        .with_for_update()).first()


def _next_attempt(session: Session, key: str) -> int:
    attempt = _locked(session, SimAttempt, key) or SimAttempt(idempotency_key=key)
    attempt.attempts += 1
    session.add(attempt)
    return attempt.attempts


def _recorded(key: str, outcome: Charge, taken_cents: int) -> SimCharge:
    return SimCharge(idempotency_key=key, status=outcome.status, charge_id=outcome.charge_id,
                     reason=outcome.reason, amount_cents=taken_cents)


def _answer(charge: SimCharge) -> Charge:
    return Charge(charge.status, charge_id=charge.charge_id, reason=charge.reason)


def _outcome_for(token: str) -> Charge:
    if token in ("tok_ok", "tok_flaky", "tok_outage", "tok_slow"):
        return Charge("succeeded", charge_id=f"ch_{uuid.uuid4().hex[:16]}")
    if token == "tok_clarify":
        return Charge("needs_clarification", charge_id=f"ch_{uuid.uuid4().hex[:16]}",
                      reason="needs_clarification")
    if token == "tok_decline":
        return Charge("declined", reason="card_declined")
    return Charge("declined", reason="invalid_token")
