"""A unit of work: one transaction that rolls back unless committed. Messages published through
it are written to the message log in the same transaction, and dispatched only after commit."""

from __future__ import annotations

import uuid
from datetime import datetime
from types import SimpleNamespace, TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.bus import deadlines, effects, outbox
from app.bus.messages import Envelope, Message, Query
from app.bus.wiring import WiringError

if TYPE_CHECKING:
    from app.bus.bus import MessageBus


def new_message_id() -> str:
    return uuid.uuid4().hex


class UnitOfWork:
    """``with uow: ...; uow.commit()``. When it consumes a delivered message, the commit also
    records that message as processed by its receiver, so a redelivery has no second effect."""

    def __init__(self, bus: MessageBus, *, style: str, consuming: outbox.Claim | None = None,
                 module: str | None = None, caused_by: str | None = None) -> None:
        self.bus = bus
        self.style = style
        self.consuming = consuming
        self.caused_by = consuming.envelope.id if consuming else caused_by
        self.module = module or (consuming.receiver.split(".", 1)[0] if consuming else None)
        # adapters answer only what effects.calls_outside called outside the transaction
        self.answers = effects.Answers()
        self.adapters: SimpleNamespace = effects.gate(bus.adapters, self.answers)
        self.entered = False
        self.committed = False
        self._claims: list[outbox.Claim] = []
        self._published: list[tuple[str, str, str]] = []  # (type, kind, style), counted at commit
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("use the unit of work inside 'with uow:'")
        return self._session

    def __enter__(self) -> UnitOfWork:
        self._session = self.bus.db.session()
        self._claims, self._published = [], []
        self.entered = True
        if self.consuming is not None:
            try:
                self._confirm(self.consuming)
            except BaseException:
                self.__exit__(None, None, None)
                raise
        return self

    def _confirm(self, claim: outbox.Claim) -> None:
        """Before a receiver does anything: is the delivery still ours, and has its module
        finished the flow's earlier messages? (outbox.confirm raises when not.)"""
        now = self.bus.clock.now()
        outbox.confirm(self.session, claim, self.bus.dispatcher.worker,
                       now + self.bus.settings.lease)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._session is not None:
            self._session.rollback()
            self._session.close()
            self._session = None

    def publish(self, message: Message, caused_by: str | None = None) -> Envelope:
        """Log ``message``; its cause is ``caused_by`` (by default: what this unit of work
        consumes, or what its caller named)."""
        message_id, type_name = new_message_id(), message.type_name()
        envelope = Envelope(
            id=message_id, type=type_name, source=self._source_of(message),
            time=self.bus.clock.now(), kind=message.kind, flowid=message.order_id,
            style=self.style, data=message.model_dump(mode="json"),
            causationid=caused_by or self.caused_by,
            traceparent=self.bus.telemetry.published(type=type_name, message_id=message_id,
                                                     flowid=message.order_id),
        )
        receivers = self.bus.wiring.receivers(self.style, envelope.type)
        if message.kind == "command" and len(receivers) != 1:
            raise WiringError(f"{envelope.short_type} has {len(receivers)} receivers in "
                              f"{self.style}; a command needs exactly one")
        self._claims += outbox.append(self.session, envelope, receivers, envelope.time,
                                      self.bus.dispatcher.claimant(), self.bus.settings.lease,
                                      message.lane())
        self._published.append((type_name, envelope.kind, self.style))
        return envelope

    def _source_of(self, message: Message) -> str:
        """Events come from the module that owns them; a command from the module sending it."""
        return message.owner if message.kind == "event" else (self.module or message.owner)

    def schedule(self, message: Message, *, at: datetime, name: str,
                 caused_by: str | None = None) -> None:
        """Publish ``message`` at ``at`` unless the flow cancels the deadline first. When it
        fires, its cause is ``caused_by`` (by default: what this unit of work consumes)."""
        deadlines.schedule(self.session, message=message, name=name,
                           owner=self.module or message.owner, style=self.style, due_at=at,
                           now=self.bus.clock.now(), causationid=caused_by or self.caused_by)

    def cancel_deadlines(self, flowid: str, name: str | None = None) -> int:
        return deadlines.cancel(self.session, flowid=flowid, name=name, now=self.bus.clock.now())

    def ask(self, query: Query) -> Any:
        return self.bus.wiring.ask(query, self)

    def commit(self) -> None:
        if self.consuming is not None:
            outbox.mark_processed(self.session, self.consuming, self.bus.clock.now())
        self.session.commit()
        self.committed = True
        claims, self._claims = self._claims, []
        published, self._published = self._published, []
        self.bus.telemetry.committed(published)
        self.bus.after_commit(claims)

    def renew_claim(self) -> None:
        """Between the steps of a receiver that calls another system: the delivery is still
        ours, for another lease from now; commits only that (the delivery is not finished)."""
        if self.consuming is None:
            return
        with self.bus.db.session() as session:
            outbox.confirm(session, self.consuming, self.bus.dispatcher.worker,
                           self.bus.clock.now() + self.bus.settings.lease)
            session.commit()

    def rollback(self) -> None:
        self.session.rollback()
        self._claims, self._published = [], []
