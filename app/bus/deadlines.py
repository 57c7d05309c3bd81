"""Deadlines as rows (DESIGN §5): "publish this message at that time unless cancelled first".
A flow that waits for days holds a row, not a thread, a job or a lock. The scheduler's tick
fires the due ones; each firing is one transaction that flips the row from pending to fired
(only one process can) and logs the message, so a deadline fires once, and one that fell due
while the app was down fires at the next tick after start."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from app.bus.log import CANCELLED, FAILED_DEADLINE, FIRED, PENDING_DEADLINE, DeadlineRecord
from app.bus.messages import Message, message_class
from app.bus.outbox import RetryPolicy
from app.clock import as_utc

deadlines = DeadlineRecord.__table__

_ADD = insert(deadlines)
_DUE = (select(deadlines.c.id).where(deadlines.c.status == PENDING_DEADLINE,
                                     deadlines.c.due_at <= bindparam("now"))
        .order_by(deadlines.c.due_at, deadlines.c.id).limit(bindparam("limit")))
_TAKE = (update(deadlines).where(deadlines.c.id == bindparam("deadline_id"),
                                 deadlines.c.status == PENDING_DEADLINE)
         .values(status=FIRED, closed_at=bindparam("now"))
         .returning(deadlines.c.flowid, deadlines.c.name, deadlines.c.owner, deadlines.c.style,
                    deadlines.c.type, deadlines.c.data, deadlines.c.causationid))


@dataclass(frozen=True)
class DueDeadline:
    """A deadline this transaction has just fired: what to publish, in which style."""

    flowid: str
    name: str
    owner: str
    style: str
    message: Message
    causationid: str | None


def schedule(session: Session, *, message: Message, name: str, owner: str, style: str,
             due_at: datetime, now: datetime, causationid: str | None) -> None:
    session.connection().execute(_ADD, {
        "flowid": message.order_id, "name": name, "owner": owner, "style": style,
        "type": message.type_name(), "data": json.dumps(message.model_dump(mode="json")),
        "due_at": due_at, "status": PENDING_DEADLINE, "causationid": causationid,
        "created_at": now, "closed_at": None})


def cancel(session: Session, *, flowid: str, name: str | None, now: datetime) -> int:
    """Cancel a flow's pending deadlines (one name, or all); returns how many."""
    statement = (update(deadlines).where(deadlines.c.flowid == flowid,
                                         deadlines.c.status == PENDING_DEADLINE)
                 .values(status=CANCELLED, closed_at=now))
    if name is not None:
        statement = statement.where(deadlines.c.name == name)
    return session.connection().execute(statement).rowcount


def due(session: Session, now: datetime, limit: int) -> list[int]:
    return list(session.connection().execute(_DUE, {"now": now, "limit": limit}).scalars())


def take(session: Session, deadline_id: int, now: datetime) -> DueDeadline | None:
    """Fire a due deadline in this transaction; None when another process got there first or
    it was cancelled meanwhile."""
    row = session.connection().execute(_TAKE, {"deadline_id": deadline_id, "now": now}).first()
    if row is None:
        return None
    message = message_class(row.type).model_validate(json.loads(row.data))
    return DueDeadline(row.flowid, row.name, row.owner, row.style, message, row.causationid)


_ATTEMPTS = (select(deadlines.c.attempts)
             .where(deadlines.c.id == bindparam("deadline_id"),
                    deadlines.c.status == PENDING_DEADLINE)
             .with_for_update())
_RETRY_LATER = (update(deadlines).where(deadlines.c.id == bindparam("deadline_id"))
                .values(attempts=bindparam("attempts"), last_error=bindparam("error"),
                        due_at=bindparam("due_at")))
_SET_ASIDE = (update(deadlines).where(deadlines.c.id == bindparam("deadline_id"))
              .values(status=FAILED_DEADLINE, attempts=bindparam("attempts"),
                      last_error=bindparam("error"), closed_at=bindparam("now")))


def fail(session: Session, deadline_id: int, error: str, now: datetime,
         policy: RetryPolicy) -> str | None:
    """A firing that failed is counted and tried again after the bus's backoff (``due_at``
    moves to the next try; the deadlines after it still fire). After the last attempt the
    deadline is set aside as failed, visibly (its order is stuck) until an operator fires it
    again (``refire``). Returns the new status; None when it is no longer pending."""
    connection = session.connection()
    attempts = connection.execute(_ATTEMPTS, {"deadline_id": deadline_id}).scalar()
    if attempts is None:
        return None
    params = {"deadline_id": deadline_id, "attempts": attempts + 1, "error": error[:4000]}
    if attempts + 1 >= policy.max_attempts:
        connection.execute(_SET_ASIDE, {**params, "now": now})
        return FAILED_DEADLINE
    connection.execute(_RETRY_LATER, {**params, "due_at": now + policy.delay(attempts + 1)})
    return PENDING_DEADLINE


_REFIRE = (update(deadlines).where(deadlines.c.flowid == bindparam("flow"),
                                   deadlines.c.name == bindparam("deadline_name"),
                                   deadlines.c.status == FAILED_DEADLINE)
           .values(status=PENDING_DEADLINE, due_at=bindparam("now"), closed_at=None))


def refire(session: Session, flowid: str, name: str, now: datetime) -> int:
    """An operator's retry of a deadline set aside as failed: due again now, with the
    attempts it made (one more failure sets it aside again). Returns how many."""
    return session.connection().execute(_REFIRE, {"flow": flowid, "deadline_name": name,
                                                  "now": now}).rowcount


def of_flow(session: Session, flowid: str) -> list[dict]:
    rows = session.execute(select(deadlines).where(deadlines.c.flowid == flowid)
                           .order_by(deadlines.c.id)).mappings()
    return [{"name": row["name"], "owner": row["owner"], "message": row["type"],
             "due_at": as_utc(row["due_at"]), "status": row["status"],
             "closed_at": as_utc(row["closed_at"]) if row["closed_at"] else None,
             "last_error": row["last_error"], "attempts": row["attempts"]}
            for row in rows]
