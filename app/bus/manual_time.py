"""The manual clock of a running app (``ORDERFLOW_CLOCK=manual``): the system clock plus an
offset that only grows. The offset lives in the database, so every process of the app and the
``orderflow advance`` command see the same time: ``now()`` reads it every time (one primary-key
read; the manual clock is for workshops and tests, not for a busy shop), so an order placed on
one process just after another moved the clock gets deadlines in the new time.

Tests use ``app.clock.ManualClock`` instead, which stands still until told to move."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import select

from app.bus.log import ClockRecord
from app.clock import check_step, parse_duration
from app.db import Database

log = logging.getLogger("orderflow.clock")


class SharedManualClock:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        self.refresh()
        with self._lock:
            return datetime.now(UTC) + self._offset

    def refresh(self) -> None:
        """Pick up a move made by any process. The offset never goes back, even when this read
        raced a move made in this process; before migrations there is nothing to read."""
        try:
            with self._db.reading() as session:
                row = session.get(ClockRecord, 1)
        except SQLAlchemyError as error:  # no clock table yet (before migrations): no offset
            log.debug("manual clock not readable yet: %s", error)
            return
        stored = timedelta(seconds=row.offset_seconds) if row else timedelta(0)
        with self._lock:
            self._offset = max(self._offset, stored)

    def advance(self, by: timedelta | str) -> datetime:
        step = parse_duration(by) if isinstance(by, str) else by
        try:
            offset = self._move(step)
        except IntegrityError:  # two first moves at once: the row exists now, move it
            offset = self._move(step)
        with self._lock:
            self._offset = max(self._offset, offset)
            return datetime.now(UTC) + self._offset

    def _move(self, step: timedelta) -> timedelta:
        """Add to the stored offset under a row lock, so concurrent moves add up."""
        with self._db.session() as session:
            row = session.exec(select(ClockRecord).where(ClockRecord.id == 1)
                               .with_for_update()).first()
            row = row or ClockRecord(id=1, offset_seconds=0.0)
            check_step(datetime.now(UTC) + timedelta(seconds=row.offset_seconds), step)
            row.offset_seconds += step.total_seconds()
            row.updated_at = datetime.now(UTC)
            session.add(row)
            session.commit()
            return timedelta(seconds=row.offset_seconds)
