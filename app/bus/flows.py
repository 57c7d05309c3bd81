"""What the message log says about flows as a whole: when each last moved, and which ones
something blocks. In choreography there is no saga to ask where an order is; the log knows for
every style alike."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Select, func, select, union
from sqlalchemy.orm import Session

from app.bus.log import (
    FAILED_DEADLINE,
    PARKED,
    ArchivedFlowRecord,
    DeadlineRecord,
    DeliveryRecord,
    MessageRecord,
)
from app.clock import as_utc

messages = MessageRecord.__table__
deliveries = DeliveryRecord.__table__
timers = DeadlineRecord.__table__
archive = ArchivedFlowRecord.__table__


def moved_since(cutoff: datetime) -> Select:
    """The flows with a message at or after ``cutoff`` (an index on the message time keeps this
    to the recent part of the log). A flow silent since before the cutoff is stuck."""
    return select(messages.c.flowid).where(messages.c.time >= cutoff)


def blocked() -> Select:
    """The flows an operator must unblock: a delivery ran out of retries, or a deadline could
    not fire. These are stuck however recent their last message is."""
    return union(select(deliveries.c.flowid).where(deliveries.c.status == PARKED),
                 select(timers.c.flowid).where(timers.c.status == FAILED_DEADLINE))


def last_moved(session: Session, flowids: Iterable[str]) -> dict[str, datetime]:
    """When each of these flows published its latest message."""
    wanted = list(flowids)
    if not wanted:
        return {}
    rows = session.execute(select(messages.c.flowid, func.max(messages.c.time))
                           .where(messages.c.flowid.in_(wanted))
                           .group_by(messages.c.flowid))
    return {flowid: as_utc(time) for flowid, time in rows}


def blocked_among(session: Session, flowids: Iterable[str]) -> set[str]:
    wanted = list(flowids)
    if not wanted:
        return set()
    parked = select(deliveries.c.flowid).where(deliveries.c.status == PARKED,
                                               deliveries.c.flowid.in_(wanted))
    failed = select(timers.c.flowid).where(timers.c.status == FAILED_DEADLINE,
                                           timers.c.flowid.in_(wanted))
    return set(session.execute(union(parked, failed)).scalars())


def archived() -> Select:
    """The flows whose history retention pruned (ADR 0016): silent on purpose, never stuck."""
    return select(archive.c.flowid)


def archived_among(session: Session, flowids: Iterable[str]) -> set[str]:
    wanted = list(flowids)
    if not wanted:
        return set()
    return set(session.execute(select(archive.c.flowid)
                               .where(archive.c.flowid.in_(wanted))).scalars())
