"""SQL for the message log: append, claim, finish, fail. Each function runs inside the
transaction of the session it is given; the caller decides when to commit. Statements are built
once, at import, and executed with parameters: the dispatcher runs them for every delivery."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, insert, literal, or_, select, update
from sqlalchemy.orm import Session

from app.bus.log import (
    DONE,
    FAILED,
    PARKED,
    PENDING,
    WAITING,
    DeliveryRecord,
    MessageRecord,
    ProcessedRecord,
)
from app.bus.messages import Envelope
from app.clock import as_utc

messages = MessageRecord.__table__
deliveries = DeliveryRecord.__table__
processed = ProcessedRecord.__table__


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta
    factor: float
    max_attempts: int

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failure: base, base*factor, base*factor^2, ..."""
        return self.base * (self.factor ** (attempts - 1))


@dataclass(frozen=True)
class Claim:
    """A delivery this worker holds a lease on, with the message to deliver."""

    delivery_id: int
    receiver: str
    module: str
    envelope: Envelope
    already_processed: bool = False
    unordered: bool = False  # claimed at publication: the flow's order is not checked yet


# --- appending -----------------------------------------------------------------------------------
_APPEND_MESSAGE = insert(messages).returning(messages.c.seq)
_APPEND_DELIVERIES = insert(deliveries).returning(deliveries.c.id, deliveries.c.receiver)


def append(session: Session, envelope: Envelope, receivers: list[tuple[str, str]],
           now: datetime, claimed_by: str | None, lease: timedelta) -> list[Claim]:
    """Log a message and one pending delivery per receiver. With ``claimed_by`` the deliveries
    start out claimed by the publishing worker and come back as claims it can deliver at once;
    without, nothing comes back and a later claim from the database picks them up."""
    connection = session.connection()
    seq = connection.execute(_APPEND_MESSAGE, {
        "id": envelope.id, "type": envelope.type, "source": envelope.source,
        "kind": envelope.kind, "time": envelope.time, "flowid": envelope.flowid,
        "causationid": envelope.causationid, "style": envelope.style,
        "data": json.dumps(envelope.data, separators=(",", ":"))}).scalar_one()
    if not receivers:
        return []
    lease_until = now + lease if claimed_by else None
    rows = connection.execute(_APPEND_DELIVERIES, [
        {"message_seq": seq, "message_id": envelope.id, "receiver": name, "module": module,
         "flowid": envelope.flowid, "status": PENDING, "attempts": 0, "next_attempt_at": now,
         "claimed_by": claimed_by, "lease_until": lease_until, "updated_at": now}
        for name, module in receivers]).all()
    if claimed_by is None:  # left for whichever worker claims them from the database
        return []
    ids = {receiver: delivery_id for delivery_id, receiver in rows}
    logged = _with_seq(envelope, seq)
    return [Claim(ids[name], name, module, logged, unordered=True) for name, module in receivers]


def _with_seq(envelope: Envelope, seq: int) -> Envelope:
    return Envelope(**{**envelope.__dict__, "seq": seq})


# --- claiming ------------------------------------------------------------------------------------
_earlier = deliveries.alias("earlier")
_EARLIER_UNFINISHED = exists().where(
    _earlier.c.module == deliveries.c.module,
    _earlier.c.flowid == deliveries.c.flowid,
    _earlier.c.message_seq < deliveries.c.message_seq,
    _earlier.c.status != DONE,
)
_DUE = (
    select(deliveries.c.id)
    .where(deliveries.c.status.in_(WAITING), deliveries.c.next_attempt_at <= bindparam("now"),
           or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < bindparam("now")),
           ~_EARLIER_UNFINISHED)
    .order_by(deliveries.c.message_seq, deliveries.c.id)
    .limit(bindparam("limit"))
)
_DUE_SKIP_LOCKED = _DUE.with_for_update(skip_locked=True, of=deliveries)
_TAKE = (update(deliveries).where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
         .values(claimed_by=bindparam("worker"), lease_until=bindparam("lease_until")))
_SEEN = exists().where(processed.c.receiver == deliveries.c.receiver,
                       processed.c.message_id == deliveries.c.message_id)
_LOAD = (
    select(deliveries.c.id.label("delivery_id"), deliveries.c.receiver,
           deliveries.c.module.label("receiving_module"), _SEEN.label("seen"), messages)
    .join(messages, messages.c.seq == deliveries.c.message_seq)
    .where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(deliveries.c.message_seq, deliveries.c.id)
)
_BLOCKED = select(literal(1)).where(
    deliveries.c.module == bindparam("module"), deliveries.c.flowid == bindparam("flowid"),
    deliveries.c.message_seq < bindparam("seq"), deliveries.c.status != DONE).limit(1)


def anything_due(session: Session, now: datetime) -> bool:
    """A cheap look, without taking a lock, before a claim."""
    return session.connection().execute(_DUE, {"now": now, "limit": 1}).first() is not None


def claim(session: Session, worker: str, now: datetime, lease: timedelta, limit: int,
          skip_locked: bool) -> list[Claim]:
    """Take up to ``limit`` due deliveries whose module has finished the flow's earlier ones."""
    connection = session.connection()
    due = _DUE_SKIP_LOCKED if skip_locked else _DUE
    ids = list(connection.execute(due, {"now": now, "limit": limit}).scalars())
    if not ids:
        return []
    connection.execute(_TAKE, {"ids": ids, "worker": worker, "lease_until": now + lease})
    rows = connection.execute(_LOAD, {"ids": ids}).mappings()
    return [Claim(row["delivery_id"], row["receiver"], row["receiving_module"],
                  envelope_from_row(row), bool(row["seen"])) for row in rows]


def waits_for_earlier(session: Session, claim: Claim) -> bool:
    """Does the receiving module still owe this flow an earlier message?"""
    return session.connection().execute(_BLOCKED, {
        "module": claim.module, "flowid": claim.envelope.flowid,
        "seq": claim.envelope.seq}).first() is not None


def envelope_from_row(row) -> Envelope:  # type: ignore[no-untyped-def]
    return Envelope(id=row["id"], type=row["type"], source=row["source"],
                    time=as_utc(row["time"]), kind=row["kind"], flowid=row["flowid"],
                    style=row["style"], data=json.loads(row["data"]),
                    causationid=row["causationid"], seq=row["seq"])


# --- finishing -----------------------------------------------------------------------------------
_PROCESSED = insert(processed)
_FINISH = (update(deliveries).where(deliveries.c.id == bindparam("delivery_id"))
           .values(status=DONE, attempts=deliveries.c.attempts + bindparam("attempted"),
                   claimed_by=None, lease_until=None, last_error=None,
                   updated_at=bindparam("now")))
_RELEASE = (update(deliveries).where(deliveries.c.id == bindparam("delivery_id"))
            .values(claimed_by=None, lease_until=None))
_RELEASE_WORKER = (update(deliveries).where(deliveries.c.claimed_by == bindparam("worker"),
                                            deliveries.c.status.in_(WAITING))
                   .values(claimed_by=None, lease_until=None))
_ATTEMPTS = select(deliveries.c.attempts).where(deliveries.c.id == bindparam("delivery_id"))
_FAIL = (update(deliveries).where(deliveries.c.id == bindparam("delivery_id"))
         .values(status=bindparam("status"), attempts=bindparam("attempts"),
                 last_error=bindparam("error"), claimed_by=None, lease_until=None,
                 next_attempt_at=bindparam("next_attempt_at"), updated_at=bindparam("now")))


def mark_processed(session: Session, claim: Claim, now: datetime) -> None:
    """Record the effect as done; raises IntegrityError when it was done before."""
    connection = session.connection()
    connection.execute(_PROCESSED, {"receiver": claim.receiver,
                                    "message_id": claim.envelope.id, "processed_at": now})
    connection.execute(_FINISH, {"delivery_id": claim.delivery_id, "attempted": 1, "now": now})


def mark_duplicate_done(session: Session, delivery_id: int, now: datetime) -> None:
    """The effect happened in an earlier attempt; this one only closes the books."""
    session.connection().execute(_FINISH, {"delivery_id": delivery_id, "attempted": 0,
                                           "now": now})


def release(session: Session, delivery_id: int) -> None:
    """Hand a claimed delivery back untouched, for a later claim to take."""
    session.connection().execute(_RELEASE, {"delivery_id": delivery_id})


def release_claims(session: Session, worker: str) -> None:
    """A worker shutting down hands back what it claimed but did not start."""
    session.connection().execute(_RELEASE_WORKER, {"worker": worker})


def record_failure(session: Session, delivery_id: int, error: str, now: datetime,
                   policy: RetryPolicy) -> str:
    connection = session.connection()
    attempts = connection.execute(_ATTEMPTS, {"delivery_id": delivery_id}).scalar_one() + 1
    status = PARKED if attempts >= policy.max_attempts else FAILED
    connection.execute(_FAIL, {"delivery_id": delivery_id, "status": status,
                               "attempts": attempts, "error": error[:4000], "now": now,
                               "next_attempt_at": now + policy.delay(attempts)})
    return status


def load_flow(session: Session, flowid: str) -> tuple[list[Envelope], dict[str, list[dict]]]:
    """An order's messages in publication order, and each message's deliveries."""
    rows = session.execute(select(messages).where(messages.c.flowid == flowid)
                           .order_by(messages.c.seq)).mappings()
    envelopes = [envelope_from_row(row) for row in rows]
    by_message: dict[str, list[dict]] = {}
    for row in session.execute(select(deliveries).where(deliveries.c.flowid == flowid)
                               .order_by(deliveries.c.id)).mappings():
        by_message.setdefault(row["message_id"], []).append(dict(row))
    return envelopes, by_message
