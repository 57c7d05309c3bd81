"""SQL for the message log: append, claim, finish, fail. Each function runs inside the
transaction of the session it is given; the caller decides when to commit. Statements are built
once, at import, and executed with parameters: the dispatcher runs them for every delivery."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, func, insert, literal, or_, select, update
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


MAX_RETRY_DELAY = timedelta(days=1)


class WaitForEarlier(Exception):
    """The receiving module still owes this flow an earlier message; deliver this one later."""


class ClaimLost(Exception):
    """The delivery is no longer this worker's to run: done, parked, or taken over elsewhere."""


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta
    factor: float
    max_attempts: int

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failure: base, base*factor, base*factor^2, ...,
        never more than a day."""
        try:
            seconds = self.base.total_seconds() * self.factor ** (attempts - 1)
        except OverflowError:
            return MAX_RETRY_DELAY
        return min(timedelta(seconds=min(seconds, MAX_RETRY_DELAY.total_seconds())),
                   MAX_RETRY_DELAY)


@dataclass(frozen=True)
class Claim:
    """A delivery this worker holds a lease on, with the message to deliver."""

    delivery_id: int
    receiver: str
    module: str
    envelope: Envelope
    already_processed: bool = False
    attempts: int = 0  # attempts made before this one
    # an earlier claim on it never ended (its holder died, or outlived its lease): this run is
    # counted before it starts (start_attempt), so a receiver that kills its process is parked
    taken_over: bool = False
    counted: bool = False  # this attempt is already in ``attempts``


# --- appending -----------------------------------------------------------------------------------
_APPEND_MESSAGE = insert(messages).returning(messages.c.seq)
# PostgreSQL hands out sequence values before commit, so two transactions of one flow could
# commit in the other order than their seq says; holding a per-flow lock until commit stops that.
_FLOW_LOCK = select(func.pg_advisory_xact_lock(func.hashtext(bindparam("flowid"))))
_APPEND_DELIVERIES = insert(deliveries).returning(deliveries.c.id, deliveries.c.receiver)


def append(session: Session, envelope: Envelope, receivers: list[tuple[str, str]],
           now: datetime, claimed_by: str | None, lease: timedelta, lane: str = "") -> list[Claim]:
    """Log a message and one pending delivery per receiver, in ``lane``. With ``claimed_by``
    the deliveries start out claimed by the publishing worker and come back as claims it can
    deliver at once; without, nothing comes back and a later claim from the database picks
    them up."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(_FLOW_LOCK, {"flowid": envelope.flowid})
    seq = connection.execute(_APPEND_MESSAGE, {
        "id": envelope.id, "type": envelope.type, "source": envelope.source,
        "kind": envelope.kind, "time": envelope.time, "flowid": envelope.flowid,
        "causationid": envelope.causationid, "style": envelope.style,
        "data": json.dumps(envelope.data, separators=(",", ":")),
        "traceparent": envelope.traceparent}).scalar_one()
    if not receivers:
        return []
    lease_until = now + lease if claimed_by else None
    rows = connection.execute(_APPEND_DELIVERIES, [
        {"message_seq": seq, "message_id": envelope.id, "receiver": name, "module": module,
         "flowid": envelope.flowid, "lane": lane, "status": PENDING, "attempts": 0,
         "next_attempt_at": now, "claimed_by": claimed_by, "lease_until": lease_until,
         "updated_at": now}
        for name, module in receivers]).all()
    if claimed_by is None:  # left for whichever worker claims them from the database
        return []
    ids = {receiver: delivery_id for delivery_id, receiver in rows}
    logged = _with_seq(envelope, seq)
    return [Claim(ids[name], name, module, logged) for name, module in receivers]


def _with_seq(envelope: Envelope, seq: int) -> Envelope:
    return Envelope(**{**envelope.__dict__, "seq": seq})


# --- claiming ------------------------------------------------------------------------------------
_earlier = deliveries.alias("earlier")
_EARLIER_UNFINISHED = exists().where(
    _earlier.c.module == deliveries.c.module,
    _earlier.c.flowid == deliveries.c.flowid,
    _earlier.c.lane == deliveries.c.lane,
    _earlier.c.message_seq < deliveries.c.message_seq,
    _earlier.c.status != DONE,
)
_DUE = (
    select(deliveries.c.id, deliveries.c.claimed_by)
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
           deliveries.c.module.label("receiving_module"), _SEEN.label("seen"),
           deliveries.c.attempts, messages)
    .join(messages, messages.c.seq == deliveries.c.message_seq)
    .where(deliveries.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(deliveries.c.message_seq, deliveries.c.id)
)
_CONFIRM = (update(deliveries)
            .where(deliveries.c.id == bindparam("delivery_id"),
                   deliveries.c.claimed_by == bindparam("worker"),
                   deliveries.c.status.in_(WAITING), ~_EARLIER_UNFINISHED)
            .values(lease_until=bindparam("lease_until"))
            .returning(deliveries.c.id))
_STILL_OURS = select(literal(1)).where(deliveries.c.id == bindparam("delivery_id"),
                                       deliveries.c.claimed_by == bindparam("worker"),
                                       deliveries.c.status.in_(WAITING))


def anything_due(session: Session, now: datetime) -> bool:
    """A cheap look, without taking a lock, before a claim."""
    return session.connection().execute(_DUE, {"now": now, "limit": 1}).first() is not None


def claim(session: Session, worker: str, now: datetime, lease: timedelta, limit: int,
          skip_locked: bool) -> list[Claim]:
    """Take up to ``limit`` due deliveries whose module has finished the flow's earlier ones."""
    connection = session.connection()
    due = _DUE_SKIP_LOCKED if skip_locked else _DUE
    due_rows = connection.execute(due, {"now": now, "limit": limit}).all()
    if not due_rows:
        return []
    ids = [row.id for row in due_rows]
    held_before = {row.id for row in due_rows if row.claimed_by is not None}
    connection.execute(_TAKE, {"ids": ids, "worker": worker, "lease_until": now + lease})
    rows = connection.execute(_LOAD, {"ids": ids}).mappings()
    return [Claim(row["delivery_id"], row["receiver"], row["receiving_module"],
                  envelope_from_row(row), bool(row["seen"]), row["attempts"],
                  taken_over=row["delivery_id"] in held_before) for row in rows]


def confirm(session: Session, claim: Claim, worker: str, lease_until: datetime) -> None:
    """The first statement of a receiver's transaction: the delivery is still this worker's,
    not done, and its module has finished the flow's earlier messages. It renews the lease and
    (on PostgreSQL) locks the row until the receiver commits. Raises WaitForEarlier or
    ClaimLost otherwise."""
    connection = session.connection()
    params = {"delivery_id": claim.delivery_id, "worker": worker}
    if connection.execute(_CONFIRM, {**params, "lease_until": lease_until}).first():
        return
    if connection.execute(_STILL_OURS, params).first():
        raise WaitForEarlier(claim.receiver)
    raise ClaimLost(claim.receiver)


def envelope_from_row(row) -> Envelope:  # type: ignore[no-untyped-def]
    return Envelope(id=row["id"], type=row["type"], source=row["source"],
                    time=as_utc(row["time"]), kind=row["kind"], flowid=row["flowid"],
                    style=row["style"], data=json.loads(row["data"]),
                    causationid=row["causationid"], seq=row["seq"],
                    traceparent=row.get("traceparent"))


# --- finishing -----------------------------------------------------------------------------------
_PROCESSED = insert(processed)
_FINISH = (update(deliveries).where(deliveries.c.id == bindparam("delivery_id"))
           .values(status=DONE, attempts=deliveries.c.attempts + bindparam("attempted"),
                   claimed_by=None, lease_until=None, last_error=None,
                   updated_at=bindparam("now")))
_RELEASE = (update(deliveries).where(deliveries.c.id == bindparam("delivery_id"),
                                     deliveries.c.claimed_by == bindparam("worker"),
                                     deliveries.c.status.in_(WAITING))
            .values(claimed_by=None, lease_until=None))
_RELEASE_WORKER = (update(deliveries).where(deliveries.c.claimed_by == bindparam("worker"),
                                            deliveries.c.status.in_(WAITING))
                   .values(claimed_by=None, lease_until=None))
_OUR_ATTEMPTS = (select(deliveries.c.attempts)
                 .where(deliveries.c.id == bindparam("delivery_id"),
                        deliveries.c.claimed_by == bindparam("worker"),
                        deliveries.c.status.in_(WAITING))
                 .with_for_update())
_FAIL = (update(deliveries).where(deliveries.c.id == bindparam("delivery_id"))
         .values(status=bindparam("status"), attempts=bindparam("attempts"),
                 last_error=bindparam("error"), claimed_by=None, lease_until=None,
                 next_attempt_at=bindparam("next_attempt_at"), updated_at=bindparam("now")))


def mark_processed(session: Session, claim: Claim, now: datetime) -> None:
    """Record the effect as done; raises IntegrityError when it was done before."""
    connection = session.connection()
    connection.execute(_PROCESSED, {"receiver": claim.receiver,
                                    "message_id": claim.envelope.id, "processed_at": now})
    connection.execute(_FINISH, {"delivery_id": claim.delivery_id,
                                 "attempted": 0 if claim.counted else 1, "now": now})


def mark_duplicate_done(session: Session, delivery_id: int, now: datetime) -> None:
    """The effect happened in an earlier attempt; this one only closes the books."""
    session.connection().execute(_FINISH, {"delivery_id": delivery_id, "attempted": 0,
                                           "now": now})


def release(session: Session, delivery_id: int, worker: str) -> None:
    """Hand a claimed delivery back untouched, for a later claim to take."""
    session.connection().execute(_RELEASE, {"delivery_id": delivery_id, "worker": worker})


def release_claims(session: Session, worker: str) -> None:
    """A worker shutting down hands back what it claimed but did not start."""
    session.connection().execute(_RELEASE_WORKER, {"worker": worker})


def record_failure(session: Session, delivery_id: int, worker: str, error: str, now: datetime,
                   policy: RetryPolicy, counted: bool = False) -> str | None:
    """Count a failed attempt (unless ``counted`` before it started) and schedule the next, or
    park the delivery after the last. A delivery that is no longer this worker's (finished or
    taken over) is left alone: None."""
    connection = session.connection()
    attempts = connection.execute(_OUR_ATTEMPTS, {"delivery_id": delivery_id,
                                                  "worker": worker}).scalar()
    if attempts is None:
        return None
    attempts += 0 if counted else 1
    status = PARKED if attempts >= policy.max_attempts else FAILED
    connection.execute(_FAIL, {"delivery_id": delivery_id, "status": status,
                               "attempts": attempts, "error": error[:4000], "now": now,
                               "next_attempt_at": now + policy.delay(attempts)})
    return status


_STARTABLE = (select(deliveries.c.attempts)
              .where(deliveries.c.id == bindparam("delivery_id"),
                     deliveries.c.claimed_by == bindparam("worker"),
                     deliveries.c.status.in_(WAITING), ~_EARLIER_UNFINISHED)
              .with_for_update(of=deliveries))
_COUNT_START = (update(deliveries).where(deliveries.c.id == bindparam("delivery_id"))
                .values(attempts=deliveries.c.attempts + 1,
                        lease_until=bindparam("lease_until"), updated_at=bindparam("now")))
STARTED = "started"


def start_attempt(session: Session, claim: Claim, worker: str, now: datetime,
                  lease: timedelta, policy: RetryPolicy) -> str | None:
    """Count a taken-over delivery's attempt before it runs (the caller commits it first):
    STARTED; PARKED instead when its attempts are used up, every one of them having ended
    without a word (its process died while it ran); None when it cannot run now (no longer
    ours, or an earlier message of the flow comes first: the receiver's confirm says which)."""
    connection = session.connection()
    params = {"delivery_id": claim.delivery_id, "worker": worker}
    attempts = connection.execute(_STARTABLE, params).scalar()
    if attempts is None:
        return None
    if attempts >= policy.max_attempts:
        connection.execute(_FAIL, {**params, "status": PARKED, "attempts": attempts,
                                   "error": _died(attempts), "now": now, "next_attempt_at": now})
        return PARKED
    connection.execute(_COUNT_START, {**params, "lease_until": now + lease, "now": now})
    return STARTED


def _died(attempts: int) -> str:
    return (f"not run again: the last of its {attempts} attempts ended without a word (its "
            "process died while it ran: a crash, a kill, out of memory)")


def load_flow(session: Session, flowid: str) -> tuple[list[Envelope], dict[str, list[dict]]]:
    """An order's messages in publication order, and each message's deliveries."""
    envelopes = flow_messages(session, flowid)
    by_message: dict[str, list[dict]] = {}
    for row in session.execute(select(deliveries).where(deliveries.c.flowid == flowid)
                               .order_by(deliveries.c.id)).mappings():
        by_message.setdefault(row["message_id"], []).append(dict(row))
    return envelopes, by_message


def flow_messages(session: Session, flowid: str) -> list[Envelope]:
    """An order's messages in publication order."""
    rows = session.execute(select(messages).where(messages.c.flowid == flowid)
                           .order_by(messages.c.seq)).mappings()
    return [envelope_from_row(row) for row in rows]


def flow_message(session: Session, flowid: str, message_id: str) -> Envelope | None:
    """One message of an order's flow; None when the flow logged no message with that id."""
    row = session.execute(select(messages).where(messages.c.flowid == flowid,
                                                 messages.c.id == message_id)).mappings().first()
    return envelope_from_row(row) if row else None


# --- dead letters -------------------------------------------------------------------------------
_PARKED = (
    select(deliveries.c.id, deliveries.c.receiver, deliveries.c.module, deliveries.c.flowid,
           deliveries.c.attempts, deliveries.c.last_error, deliveries.c.updated_at,
           messages.c.id.label("message_id"), messages.c.type, messages.c.style,
           messages.c.time.label("message_time"))
    .join(messages, messages.c.seq == deliveries.c.message_seq)
    .where(deliveries.c.status == PARKED)
)
_REPLAY = (update(deliveries).where(deliveries.c.id == bindparam("delivery_id"),
                                    deliveries.c.status == PARKED)
           .values(status=PENDING, next_attempt_at=bindparam("now"), claimed_by=None,
                   lease_until=None, updated_at=bindparam("now")))


def parked(session: Session, *, limit: int, after_id: int | None = None,
           flowid: str | None = None) -> list[dict]:
    """Dead letters, oldest first, a keyset page at a time; one order's when ``flowid``."""
    statement = _PARKED.order_by(deliveries.c.id).limit(limit)
    if after_id is not None:
        statement = statement.where(deliveries.c.id > after_id)
    if flowid is not None:
        statement = statement.where(deliveries.c.flowid == flowid)
    return [dict(row) for row in session.execute(statement).mappings()]


def parked_of_flow(session: Session, flowid: str) -> list[dict]:
    return parked(session, limit=1000, flowid=flowid)


def replay(session: Session, delivery_id: int, now: datetime) -> bool:
    """An operator's retry: the parked delivery is due again now, with the attempts it has
    made (one more failure parks it again). False when it is not parked."""
    return session.connection().execute(_REPLAY, {"delivery_id": delivery_id,
                                                  "now": now}).rowcount == 1


def delivery_status(session: Session, delivery_id: int) -> str | None:
    return session.execute(select(deliveries.c.status)
                           .where(deliveries.c.id == delivery_id)).scalar()


# --- the backlog, for /readyz and /metrics --------------------------------------------------------
def _oldest_due(status: str):  # type: ignore[no-untyped-def]
    return (select(deliveries.c.next_attempt_at)
            .where(deliveries.c.status == status, deliveries.c.next_attempt_at <= bindparam("now"),
                   ~_EARLIER_UNFINISHED)
            .order_by(deliveries.c.next_attempt_at).limit(1))


_OLDEST_DUE = [_oldest_due(status) for status in WAITING]  # one index range scan per status


def oldest_due(session: Session, now: datetime) -> datetime | None:
    """Since when the longest-waiting delivery the dispatcher could take now has been due: a
    pending one, or a failed one whose retry time has come. Parked deliveries, failed ones
    waiting for their retry, and those queued behind an unfinished earlier message of their
    flow (a parked one, say) are not counted: they wait on purpose."""
    connection = session.connection()
    found = [connection.execute(statement, {"now": now}).scalar() for statement in _OLDEST_DUE]
    times = [as_utc(value) for value in found if value is not None]
    return min(times) if times else None


_TRACEPARENT_OF = select(messages.c.traceparent).where(messages.c.id == bindparam("id"))
_FIRST_TRACEPARENT = (select(messages.c.traceparent)
                      .where(messages.c.flowid == bindparam("flowid"))
                      .order_by(messages.c.seq).limit(1))


def traceparent_of_cause(session: Session, causationid: str | None, flowid: str) -> str | None:
    """The trace context a deadline's message continues: that of the message whose handling
    set it, else that of the flow's first message."""
    connection = session.connection()
    if causationid:
        found = connection.execute(_TRACEPARENT_OF, {"id": causationid}).scalar()
        if found:
            return found
    return connection.execute(_FIRST_TRACEPARENT, {"flowid": flowid}).scalar()
