"""A simulated carrier. An address containing ``UNDELIVERABLE`` is refused; everything else is
accepted. The same idempotency key always gets the same answer, also after our restarts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import func
from sqlmodel import Field, SQLModel, select

from app.db import Database


@dataclass(frozen=True)
class Consignment:
    accepted: bool
    tracking_id: str | None = None
    reason: str | None = None


class Carrier(Protocol):
    def ship(self, recipient: str, address: str, idempotency_key: str) -> Consignment: ...


class SimConsignment(SQLModel, table=True):
    """The carrier's own book (prefix ``sim_carrier_``): one answer per idempotency key."""

    __tablename__ = "sim_carrier_consignment"

    idempotency_key: str = Field(primary_key=True, max_length=200)
    accepted: bool
    tracking_id: str | None = Field(default=None, max_length=60)
    reason: str | None = Field(default=None, max_length=60)


class SimulatedCarrier:
    """Another system: its book is a table of its own, each call a short transaction of its
    own, so the answers outlive our processes."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def ship(self, recipient: str, address: str, idempotency_key: str) -> Consignment:
        with self.db.session() as session:
            known = session.exec(select(SimConsignment)
                                 .where(SimConsignment.idempotency_key == idempotency_key)
                                 .with_for_update()).first()
            if known is not None:
                return Consignment(known.accepted, known.tracking_id, known.reason)
            consignment = _consign(address)
            session.add(SimConsignment(idempotency_key=idempotency_key,
                                       accepted=consignment.accepted,
                                       tracking_id=consignment.tracking_id,
                                       reason=consignment.reason))
            session.commit()  # two calls racing for one key: the loser's IntegrityError
            return consignment  # is a failure our side retries, and then finds this answer

    @property
    def parcels_sent(self) -> int:
        with self.db.reading() as session:
            return int(session.exec(select(func.count()).select_from(SimConsignment)
                                    .where(SimConsignment.accepted)).one())


def _consign(address: str) -> Consignment:
    if "UNDELIVERABLE" in address.upper():
        return Consignment(False, reason="undeliverable")
    return Consignment(True, tracking_id=f"trk_{uuid.uuid4().hex[:16]}")
