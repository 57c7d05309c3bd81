"""The only source of "now". Production uses the system clock; tests and demos move a manual one."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to ("7 days pass")."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, by: timedelta | str) -> datetime:
        step = parse_duration(by) if isinstance(by, str) else by
        with self._lock:
            check_step(self._now, step)
            self._now += step
            return self._now


LATEST = datetime(9000, 1, 1, tzinfo=UTC)  # room left for every deadline and term after it
LONGEST_STEP = timedelta(days=3660)


def check_step(now: datetime, step: timedelta) -> None:
    """Time only moves forward, by at most P3660D at a time, and never so far that dates stop
    fitting in a datetime."""
    if step < timedelta(0):
        raise ValueError("time only moves forward")
    if step > LONGEST_STEP:
        raise ValueError("move the clock by at most P3660D at a time")
    if step > LATEST - now:
        raise ValueError(f"moving the clock by {step.days} days would go past the year "
                         f"{LATEST.year}")


def parse_duration(text: str) -> timedelta:
    """ISO-8601 duration such as ``P7D`` or ``PT0.5S``; raises ValueError when malformed."""
    match = _DURATION.fullmatch(text.strip().upper())
    if not match or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"{text!r} is not an ISO-8601 duration such as P7D or PT30S")
    parts = {name: float(value) for name, value in match.groupdict().items() if value}
    try:
        return timedelta(**parts)
    except OverflowError:
        raise ValueError(f"{text!r} is longer than any duration we can hold") from None


def format_duration(span: timedelta) -> str:
    """The ISO-8601 form of a duration: P7D, PT30M, P1DT2H, PT0.5S."""
    seconds = span.total_seconds()
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, rest = divmod(rest, 60)
    clock = "".join(f"{int(n)}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
    if rest:
        clock += f"{rest:g}S"
    date = f"{int(days)}D" if days else ""
    return f"P{date}T{clock}" if clock else f"P{date or '0D'}"


def as_utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back naive (everything we store is UTC); PostgreSQL hands them back
    in its session's time zone, which need not be UTC: either way, the same moment in UTC."""
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
