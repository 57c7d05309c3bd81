"""SQL for the message log: append, claim, finish, fail. Each function runs inside the
transaction of the session it is given; the caller decides when to commit."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, insert, or_, select, update
from sqlalchemy.orm import Session

from app.bus.log import (
    DONE,
    FAILED,
    PARKED,
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
    delivery_id: int
    receiver: str
    attempts: int
    already_processed: bool
    envelope: Envelope


def append(session: Session, envelope: Envelope, receivers: list[tuple[str, str]],
           now: datetime) -> int:
    seq = session.execute(insert(messages).values(
        id=envelope.id, type=envelope.type, source=envelope.source, kind=envelope.kind,
        time=envelope.time, flowid=envelope.flowid, causationid=envelope.causationid,
        style=envelope.style, data=json.dumps(envelope.data, separators=(",", ":")),
    ).returning(messages.c.seq)).scalar_one()
    if receivers:
        session.execute(insert(deliveries), [
            {"message_seq": seq, "message_id": envelope.id, "receiver": name, "module": module,
             "flowid": envelope.flowid, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "updated_at": now}
            for name, module in receivers
        ])
    return seq


def _earlier_unfinished():
    """An earlier message of the same flow that the same module has not finished yet."""
    earlier = deliveries.alias("earlier")
    return exists().where(
        earlier.c.module == deliveries.c.module,
        earlier.c.flowid == deliveries.c.flowid,
        earlier.c.message_seq < deliveries.c.message_seq,
        earlier.c.status != DONE,
    )


def claim(session: Session, worker: str, now: datetime, lease: timedelta, limit: int,
          skip_locked: bool) -> list[Claim]:
    due = (
        select(deliveries.c.id)
        .where(deliveries.c.status.in_(WAITING), deliveries.c.next_attempt_at <= now,
               or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
               ~_earlier_unfinished())
        .order_by(deliveries.c.message_seq, deliveries.c.id)
        .limit(limit)
    )
    if skip_locked:
        due = due.with_for_update(skip_locked=True, of=deliveries)
    ids = list(session.execute(due).scalars())
    if not ids:
        return []
    session.execute(update(deliveries).where(deliveries.c.id.in_(ids))
                    .values(claimed_by=worker, lease_until=now + lease))
    return _load_claims(session, ids)


def _load_claims(session: Session, ids: list[int]) -> list[Claim]:
    seen = exists().where(processed.c.receiver == deliveries.c.receiver,
                          processed.c.message_id == deliveries.c.message_id)
    rows = session.execute(
        select(deliveries.c.id.label("delivery_id"), deliveries.c.receiver,
               deliveries.c.attempts, seen.label("seen"), messages)
        .join(messages, messages.c.seq == deliveries.c.message_seq)
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.message_seq, deliveries.c.id)
    ).mappings()
    return [Claim(row["delivery_id"], row["receiver"], row["attempts"], bool(row["seen"]),
                  envelope_from_row(row)) for row in rows]


def envelope_from_row(row) -> Envelope:  # type: ignore[no-untyped-def]
    return Envelope(id=row["id"], type=row["type"],
                    source=row["source"], time=as_utc(row["time"]), kind=row["kind"],
                    flowid=row["flowid"], style=row["style"], data=json.loads(row["data"]),
                    causationid=row["causationid"], seq=row["seq"])


def mark_processed(session: Session, delivery_id: int, receiver: str, message_id: str,
                   now: datetime) -> None:
    """Record the effect as done; raises IntegrityError when it was done before."""
    session.execute(insert(processed).values(receiver=receiver, message_id=message_id,
                                             processed_at=now))
    _finish(session, delivery_id, now)


def mark_duplicate_done(session: Session, delivery_id: int, now: datetime) -> None:
    """The effect happened in an earlier attempt; this one only closes the books."""
    _finish(session, delivery_id, now, attempted=False)


def _finish(session: Session, delivery_id: int, now: datetime, attempted: bool = True) -> None:
    session.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(
        status=DONE, attempts=deliveries.c.attempts + int(attempted), claimed_by=None,
        lease_until=None, last_error=None, updated_at=now))


def record_failure(session: Session, delivery_id: int, error: str, now: datetime,
                   policy: RetryPolicy) -> str:
    attempts = session.execute(select(deliveries.c.attempts)
                               .where(deliveries.c.id == delivery_id)).scalar_one() + 1
    status = PARKED if attempts >= policy.max_attempts else FAILED
    session.execute(update(deliveries).where(deliveries.c.id == delivery_id).values(
        status=status, attempts=attempts, last_error=error[:4000], claimed_by=None,
        lease_until=None, next_attempt_at=now + policy.delay(attempts), updated_at=now))
    return status


def release_claims(session: Session, worker: str) -> None:
    """A worker shutting down hands back what it claimed but did not start."""
    session.execute(update(deliveries).where(
        and_(deliveries.c.claimed_by == worker, deliveries.c.status.in_(WAITING)))
        .values(claimed_by=None, lease_until=None))


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

