"""Time that cannot go backwards unnoticed. A shop that ran on the manual clock (a workshop
moved it weeks ahead) and restarts on the system clock would find its message log, retries
and deadlines in the future: nothing would fire for weeks, and nothing would say why. At
start-up ``ahead_of`` reads the newest moment the message log recorded; if it is later than
the clock by more than the tolerance, the server refuses to start (``ClockBehind``).
``shift_back`` resolves it: every recorded time moves back by the same span, as if the clock
had never been ahead, and the manual clock's offset is cleared."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, Table, bindparam, func, select, update

from app.bus.log import ClockRecord, MessageRecord
from app.clock import as_utc, format_duration
from app.db import Database

SHIFT_BATCH = 500


class ClockBehind(RuntimeError):
    """The database holds moments later than the clock this process would run on."""


def newest_recorded(db: Database) -> datetime | None:
    with db.reading() as session:
        newest = session.execute(select(func.max(MessageRecord.time))).scalar()
    return as_utc(newest) if newest is not None else None


def ahead_of(db: Database, now: datetime) -> timedelta:
    """How far the newest logged message is ahead of ``now`` (zero when it is not)."""
    newest = newest_recorded(db)
    return max(newest - now, timedelta(0)) if newest else timedelta(0)


def check(db: Database, now: datetime, tolerance: timedelta) -> None:
    ahead = ahead_of(db, now)
    if ahead > tolerance:
        raise ClockBehind(
            f"the message log's newest message is {readable(ahead)} ahead of "
            f"the system clock (a manual clock was moved forward); nothing due would fire "
            f"until then. Either keep ORDERFLOW_CLOCK=manual, or run 'orderflow clock shift' "
            f"to move the shop's recorded times back onto the system clock")


def shift_back(db: Database, tables: Iterable[Table], by: timedelta,
               progress=lambda table, rows: None) -> int:  # type: ignore[no-untyped-def]
    """Move every date-time column of ``tables`` back by ``by``, and clear the manual clock's
    offset, in one transaction; returns how many rows changed."""
    changed = 0
    with db.session() as session:
        for table in tables:
            rows = _shift_table(session, table, by)
            changed += rows
            progress(table.name, rows)
        session.execute(update(ClockRecord).values(offset_seconds=0.0,
                                                   updated_at=datetime.now(UTC)))
        session.commit()
    return changed


def _shift_table(session, table: Table, by: timedelta) -> int:  # type: ignore[no-untyped-def]
    moments = [column for column in table.columns if isinstance(column.type, DateTime)]
    keys = list(table.primary_key.columns)
    if not moments or not keys or table.name == ClockRecord.__tablename__:
        return 0
    rows = session.execute(select(*keys, *moments)).all()
    updates = [_shifted(row, keys, moments, by) for row in rows]
    statement = update(table).where(*[key == _bind(key) for key in keys])
    for start in range(0, len(updates), SHIFT_BATCH):
        session.execute(statement, updates[start:start + SHIFT_BATCH])
    return len(updates)


def _bind(column):  # type: ignore[no-untyped-def]
    return bindparam(f"key_{column.name}")


def _shifted(row, keys, moments, by: timedelta) -> dict:  # type: ignore[no-untyped-def]
    values = {f"key_{key.name}": getattr(row, key.name) for key in keys}
    values.update({column.name: (None if getattr(row, column.name) is None
                                 else getattr(row, column.name) - by) for column in moments})
    return values


def whole_seconds(span: timedelta) -> timedelta:
    return timedelta(seconds=round(span.total_seconds()))


def readable(span: timedelta) -> str:
    """The gap for people: to the minute once it is an hour or more (it shrinks while we
    look), to the second below."""
    seconds = span.total_seconds()
    step = 60 if seconds >= 3600 else 1
    return format_duration(timedelta(seconds=round(seconds / step) * step))
