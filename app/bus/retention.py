"""Bounded growth (ADR 0016): the message log, deliveries, inbox rows and closed deadlines of a
finished flow are deleted once its last message is older than the retention period
(``ORDERFLOW_RETAIN_FINISHED``), and one ``bus_archived_flow`` row says that it had a history.

The kernel does not know the modules, so "finished" is read from the log plus what the
composition root declares (``Wiring.end_flows_with``): the flow's log holds a message of a type
that ends a flow (orders' OrderDelivered, OrderCancelled), nothing waits (no pending, failed or
parked delivery) and no deadline is pending or failed. A flow that matches has nothing left to
deliver or fire, and nobody to unblock; its business rows (orders, payments, picks, shipments)
are the modules' and stay.

Pruning goes in small batches, each one short transaction: the candidates are found outside any
write lock, then the batch's transaction checks them again and deletes. On PostgreSQL it takes
each flow's advisory lock (the one ``outbox.append`` holds while it logs a message of the flow)
with ``pg_try_advisory_xact_lock``, skipping a flow another pruner or a publisher holds; on SQLite
writers are serialized (``BEGIN IMMEDIATE``). So several processes may prune at once: a flow is
archived once, and a message logged meanwhile either waits for the batch or stops it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from app.bus.log import (
    CANCELLED,
    FAILED,
    FAILED_DEADLINE,
    FIRED,
    PARKED,
    PENDING,
    PENDING_DEADLINE,
    ArchivedFlowRecord,
    DeadlineRecord,
    DeliveryRecord,
    MessageRecord,
    ProcessedRecord,
)
from app.clock import as_utc
from app.db import Database

log = logging.getLogger("orderflow.retention")

messages = MessageRecord.__table__
deliveries = DeliveryRecord.__table__
processed = ProcessedRecord.__table__
timers = DeadlineRecord.__table__
archived = ArchivedFlowRecord.__table__

BATCH = 200  # flows per transaction
UNSETTLED = (PENDING, FAILED, PARKED)  # a delivery still to make, or waiting for an operator
OPEN_DEADLINES = (PENDING_DEADLINE, FAILED_DEADLINE)
CLOSED_DEADLINES = (FIRED, CANCELLED)
_TRY_FLOW_LOCK = select(func.pg_try_advisory_xact_lock(func.hashtext(bindparam("flowid"))))


@dataclass(frozen=True)
class Pruned:
    """What a batch or a run removed (or, in a dry run, would remove)."""

    flows: int = 0
    messages: int = 0
    deliveries: int = 0
    processed: int = 0
    deadlines: int = 0
    batches: int = 0
    seconds: float = 0.0  # a batch: its write transaction; a run: all of it

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                         for f in fields(self)})

    def describe(self) -> str:
        return (f"{self.flows:,} flows, {self.messages:,} messages, "
                f"{self.deliveries:,} deliveries, {self.processed:,} inbox rows, "
                f"{self.deadlines:,} deadlines")


@dataclass(frozen=True)
class ArchivedHistory:
    """What is left of a pruned flow's history."""

    archived_at: datetime
    messages: int
    first_message_at: datetime | None
    last_message_at: datetime | None


def archived_history(session: Session, flowid: str) -> ArchivedHistory | None:
    """The archive note of a flow whose history was pruned; None when it was not."""
    row = session.execute(select(archived).where(archived.c.flowid == flowid)).mappings().first()
    if row is None:
        return None
    return ArchivedHistory(as_utc(row["archived_at"]), row["messages"],
                           _maybe_utc(row["first_message_at"]),
                           _maybe_utc(row["last_message_at"]))


def _maybe_utc(moment: datetime | None) -> datetime | None:
    return as_utc(moment) if moment else None


# --- which flows ----------------------------------------------------------------------------
def _finished_before(cutoff: datetime, flow_ends: Collection[str]):  # type: ignore[no-untyped-def]
    """The condition on a ``bus_message`` row ``messages`` that makes its flow prunable: the
    row ends the flow (or the flow was archived before and logged more since), the flow logged
    nothing since ``cutoff``, waits for no delivery and has no open deadline."""
    later, waiting, pending = messages.alias("later"), deliveries.alias("d"), timers.alias("t")
    ends = or_(messages.c.type.in_(list(flow_ends)),
               exists().where(archived.c.flowid == messages.c.flowid))
    return and_(
        ends, messages.c.time < cutoff,
        ~exists().where(later.c.flowid == messages.c.flowid, later.c.time >= cutoff),
        ~exists().where(waiting.c.status.in_(UNSETTLED), waiting.c.flowid == messages.c.flowid),
        ~exists().where(pending.c.status.in_(OPEN_DEADLINES),
                        pending.c.flowid == messages.c.flowid))


@dataclass(frozen=True)
class Position:
    """Where the oldest-first walk over the log's old end stopped (time, seq)."""

    time: datetime
    seq: int


def candidates(session: Session, *, cutoff: datetime, flow_ends: Collection[str], limit: int,
               after: Position | None = None) -> tuple[list[str], Position | None]:
    """Up to ``limit`` prunable flows, oldest first, read without a write lock, and where the
    walk stopped (the next call starts after it, so flows kept back are not read again)."""
    statement = (select(messages.c.flowid, messages.c.time, messages.c.seq)
                 .where(_finished_before(cutoff, flow_ends))
                 .order_by(messages.c.time, messages.c.seq).limit(limit))
    if after is not None:  # a plain range on the time first, so SQLite walks its index in order
        statement = statement.where(messages.c.time >= after.time,
                                    or_(messages.c.time > after.time,
                                        messages.c.seq > after.seq))
    rows = session.execute(statement).all()
    flowids = list(dict.fromkeys(row.flowid for row in rows))
    return flowids, (Position(rows[-1].time, rows[-1].seq) if rows else None)


def _still_prunable(connection: Connection, flowids: list[str], cutoff: datetime,
                    flow_ends: Collection[str]) -> list[str]:
    statement = (select(messages.c.flowid).distinct()
                 .where(messages.c.flowid.in_(flowids), _finished_before(cutoff, flow_ends)))
    return list(connection.execute(statement).scalars())


def _lockable(connection: Connection, flowids: Iterable[str]) -> list[str]:
    """PostgreSQL: the flows whose advisory lock this transaction got (held to its end)."""
    if connection.dialect.name != "postgresql":
        return list(flowids)
    return [flowid for flowid in flowids
            if connection.execute(_TRY_FLOW_LOCK, {"flowid": flowid}).scalar()]


# --- pruning --------------------------------------------------------------------------------
def prune_batch(db: Database, flowids: list[str], *, cutoff: datetime, now: datetime,
                flow_ends: Collection[str], dry_run: bool = False) -> Pruned:
    """One transaction: check the flows again, then delete their log and record the archive.
    A dry run reads the same counts and changes nothing (and takes no write lock)."""
    started = time.perf_counter()
    if dry_run:
        with db.reading() as session:
            connection = session.connection()
            kept = _still_prunable(connection, flowids, cutoff, flow_ends)
            counts = _count(connection, kept)
    else:
        with db.session() as session:
            connection = session.connection()
            kept = _still_prunable(connection, _lockable(connection, flowids), cutoff, flow_ends)
            counts = _delete(connection, kept, now)
            session.commit()
    return Pruned(**counts, batches=1, seconds=time.perf_counter() - started)


def _summary(connection: Connection, flowids: list[str]) -> list:  # type: ignore[type-arg]
    return connection.execute(
        select(messages.c.flowid, func.count(), func.min(messages.c.time),
               func.max(messages.c.time))
        .where(messages.c.flowid.in_(flowids)).group_by(messages.c.flowid)).all()


def _inbox_of(flowids: list[str]):  # type: ignore[no-untyped-def]
    """The inbox rows of these flows' deliveries (found by the inbox's primary key)."""
    return tuple_(processed.c.receiver, processed.c.message_id).in_(
        select(deliveries.c.receiver, deliveries.c.message_id)
        .where(deliveries.c.flowid.in_(flowids)))


def _closed_deadlines_of(flowids: list[str]):  # type: ignore[no-untyped-def]
    return and_(timers.c.flowid.in_(flowids), timers.c.status.in_(CLOSED_DEADLINES))


def _count(connection: Connection, flowids: list[str]) -> dict[str, int]:
    if not flowids:
        return {}

    def rows(table, condition) -> int:  # type: ignore[no-untyped-def]
        return connection.execute(select(func.count()).select_from(table).where(condition)
                                  ).scalar_one()

    return {"flows": len(flowids),
            "messages": rows(messages, messages.c.flowid.in_(flowids)),
            "deliveries": rows(deliveries, deliveries.c.flowid.in_(flowids)),
            "processed": rows(processed, _inbox_of(flowids)),
            "deadlines": rows(timers, _closed_deadlines_of(flowids))}


def _delete(connection: Connection, flowids: list[str], now: datetime) -> dict[str, int]:
    """Inbox rows first (they are found through the deliveries), then deliveries, messages and
    closed deadlines; then the archive rows (added to, for a flow archived before)."""
    if not flowids:
        return {}
    summary = _summary(connection, flowids)
    counts = {
        "flows": len(flowids),
        "processed": connection.execute(delete(processed).where(_inbox_of(flowids))).rowcount,
        "deliveries": connection.execute(
            delete(deliveries).where(deliveries.c.flowid.in_(flowids))).rowcount,
        "messages": connection.execute(
            delete(messages).where(messages.c.flowid.in_(flowids))).rowcount,
        "deadlines": connection.execute(
            delete(timers).where(_closed_deadlines_of(flowids))).rowcount,
    }
    _archive(connection, summary, now)
    return counts


def _archive(connection: Connection, summary: list, now: datetime) -> None:  # type: ignore[type-arg]
    before = {row.flowid: row for row in connection.execute(
        select(archived).where(archived.c.flowid.in_([flowid for flowid, *_ in summary])))}
    fresh = []
    for flowid, count, first, last in summary:
        old = before.get(flowid)
        if old is None:
            fresh.append({"flowid": flowid, "messages": count, "first_message_at": first,
                          "last_message_at": last, "archived_at": now})
            continue
        connection.execute(update(archived).where(archived.c.flowid == flowid).values(
            messages=old.messages + count, archived_at=now, last_message_at=last,
            first_message_at=min(_maybe_utc(old.first_message_at) or as_utc(first),
                                 as_utc(first))))
    if fresh:
        connection.execute(insert(archived), fresh)


def prune(db: Database, *, cutoff: datetime, now: datetime, flow_ends: Collection[str],
          batch: int = BATCH, max_batches: int | None = None, dry_run: bool = False,
          progress: Callable[[Pruned], None] | None = None,
          stopping: Callable[[], bool] = lambda: False) -> Pruned:
    """Prune every finished flow whose last message is older than ``cutoff``, ``batch`` flows
    per transaction, oldest first, until none is left, ``max_batches`` ran or ``stopping()``
    says so (checked between batches: a shutdown does not wait for a long run); returns the
    totals. ``progress`` hears each batch."""
    started, total, after = time.perf_counter(), Pruned(), None
    if not flow_ends:  # nothing declares how a flow ends: nothing can be known finished
        return total
    while (max_batches is None or total.batches < max_batches) and not stopping():
        with db.reading() as session:
            flowids, after = candidates(session, cutoff=cutoff, flow_ends=flow_ends,
                                        limit=batch, after=after)
        if not flowids:
            break
        done = prune_batch(db, flowids, cutoff=cutoff, now=now, flow_ends=flow_ends,
                           dry_run=dry_run)
        total += done
        if progress is not None:
            progress(done)
    return Pruned(**{**total.__dict__, "seconds": time.perf_counter() - started})
