"""The manual clock of a running app (``ORDERFLOW_CLOCK=manual``): the system clock plus an
offset that only grows. The offset lives in the database, so every process of the app and the
``orderflow advance`` command see the same time; each process re-reads it on every tick.

Tests use ``app.clock.ManualClock`` instead, which stands still until told to move."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import select

from app.bus.log import ClockRecord
from app.clock import parse_duration
from app.db import Database

log = logging.getLogger("orderflow.clock")


class SharedManualClock:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._offset = timedelta(0)
        self._lock = threading.Lock()
        self._loaded = False

    def now(self) -> datetime:
        if not self._loaded:
            self.refresh()
        with self._lock:
            return datetime.now(UTC) + self._offset

    def refresh(self) -> None:
        """Pick up a move made by another process; before migrations there is nothing to read."""
        try:
            with self._db.reading() as session:
                row = session.get(ClockRecord, 1)
        except SQLAlchemyError as error:  # no clock table yet (before migrations): no offset
            log.debug("manual clock not readable yet: %s", error)
            return
        with self._lock:
            self._offset = timedelta(seconds=row.offset_seconds) if row else timedelta(0)
            self._loaded = True

    def advance(self, by: timedelta | str) -> datetime:
        step = parse_duration(by) if isinstance(by, str) else by
        if step < timedelta(0):
            raise ValueError("time only moves forward")
        try:
            offset = self._move(step)
        except IntegrityError:  # two first moves at once: the row exists now, move it
            offset = self._move(step)
        with self._lock:
            self._offset, self._loaded = offset, True
            return datetime.now(UTC) + offset

    def _move(self, step: timedelta) -> timedelta:
        """Add to the stored offset under a row lock, so concurrent moves add up."""
        with self._db.session() as session:
            row = session.exec(select(ClockRecord).where(ClockRecord.id == 1)
                               .with_for_update()).first()
            row = row or ClockRecord(id=1, offset_seconds=0.0)
            row.offset_seconds += step.total_seconds()
            row.updated_at = datetime.now(UTC)
            session.add(row)
            session.commit()
            return timedelta(seconds=row.offset_seconds)
