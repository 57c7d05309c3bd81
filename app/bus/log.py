"""The message log (transactional outbox), per-receiver deliveries, and the inbox of processed
messages. All three live in the same database as the modules' tables, so a state change and the
messages it produces commit together."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _utc(**kwargs) -> datetime:  # type: ignore[no-untyped-def]
    return Field(sa_type=DateTime(timezone=True), **kwargs)


class MessageRecord(SQLModel, table=True):
    __tablename__ = "bus_message"
    __table_args__ = (Index("ix_bus_message_flow", "flowid", "seq"),
                      Index("ix_bus_message_time", "time"))

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(unique=True, max_length=40)
    type: str = Field(max_length=120)
    source: str = Field(max_length=40)
    kind: str = Field(max_length=10)
    time: datetime = _utc()
    flowid: str = Field(max_length=40)
    causationid: str | None = Field(default=None, max_length=40)
    style: str = Field(max_length=20)
    data: str = Field(sa_type=Text)
    # W3C trace context of the span that published it (the CloudEvents distributed-tracing
    # extension), so one trace runs from the HTTP request through every delivery of the flow
    traceparent: str | None = Field(default=None, max_length=55)


class DeliveryRecord(SQLModel, table=True):
    """One (message, receiver) pair: pending -> done, or failed (retrying) -> parked."""

    __tablename__ = "bus_delivery"
    __table_args__ = (
        UniqueConstraint("message_id", "receiver", name="uq_bus_delivery_message_receiver"),
        Index("ix_bus_delivery_due", "status", "next_attempt_at"),
        Index("ix_bus_delivery_flow_order", "module", "flowid", "message_seq"),
        Index("ix_bus_delivery_message", "message_seq"),
        Index("ix_bus_delivery_flow", "flowid", "id"),
        Index("ix_bus_delivery_status_flow", "status", "flowid"),  # a page's parked flows
    )

    id: int | None = Field(default=None, primary_key=True)
    message_seq: int
    message_id: str = Field(max_length=40)
    receiver: str = Field(max_length=120)
    module: str = Field(max_length=40)
    flowid: str = Field(max_length=40)
    # deliveries of one module and flow run in publication order within their lane (ADR 0028)
    lane: str = Field(default="", max_length=60, sa_column_kwargs={"server_default": ""})
    status: str = Field(default="pending", max_length=10)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    next_attempt_at: datetime = _utc()
    claimed_by: str | None = Field(default=None, max_length=60)
    lease_until: datetime | None = _utc(default=None)
    updated_at: datetime = _utc()


class ProcessedRecord(SQLModel, table=True):
    """The inbox: a receiver's effect and this row commit together, so a redelivery is skipped."""

    __tablename__ = "bus_processed"

    receiver: str = Field(primary_key=True, max_length=120)
    message_id: str = Field(primary_key=True, max_length=40)
    processed_at: datetime = _utc()


PENDING, DONE, FAILED, PARKED = "pending", "done", "failed", "parked"
WAITING = (PENDING, FAILED)


class DeadlineRecord(SQLModel, table=True):
    """A message to publish when ``due_at`` passes (DESIGN §5): a row, never a scheduler job.
    The tick fires due ones; firing and publishing commit together, and only one process can
    move a deadline from pending to fired."""

    __tablename__ = "bus_deadline"
    __table_args__ = (
        Index("ix_bus_deadline_due", "status", "due_at"),
        Index("ix_bus_deadline_flow", "flowid", "name"),
        Index("ix_bus_deadline_status_flow", "status", "flowid"),  # a page's failed deadlines
    )

    id: int | None = Field(default=None, primary_key=True)
    flowid: str = Field(max_length=40)
    name: str = Field(max_length=60)
    owner: str = Field(max_length=40)  # the module that set it
    style: str = Field(max_length=20)
    type: str = Field(max_length=120)  # the message to publish
    data: str = Field(sa_type=Text)
    due_at: datetime = _utc()
    status: str = Field(default="pending", max_length=10)  # pending | fired | cancelled | failed
    causationid: str | None = Field(default=None, max_length=40)
    last_error: str | None = Field(default=None, sa_type=Text)  # why it could not fire
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})  # failed firings
    created_at: datetime = _utc()
    closed_at: datetime | None = _utc(default=None)


class ClockRecord(SQLModel, table=True):
    """The shared offset of the manual clock (ORDERFLOW_CLOCK=manual): every process of the
    app, and the ``advance`` command, read the same time."""

    __tablename__ = "bus_clock"

    id: int = Field(default=1, primary_key=True)
    offset_seconds: float = 0.0
    updated_at: datetime = _utc()


class ArchivedFlowRecord(SQLModel, table=True):
    """A finished flow whose message log, deliveries and deadlines were pruned after the
    retention period (ORDERFLOW_RETAIN_FINISHED): what is left to say that it had a history."""

    __tablename__ = "bus_archived_flow"

    flowid: str = Field(primary_key=True, max_length=40)
    messages: int = 0
    first_message_at: datetime | None = _utc(default=None)
    last_message_at: datetime | None = _utc(default=None)
    archived_at: datetime = _utc()


# deadlines: pending -> fired | cancelled, or failed (its message could not be published)
PENDING_DEADLINE, FIRED, CANCELLED, FAILED_DEADLINE = "pending", "fired", "cancelled", "failed"
