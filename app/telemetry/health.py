"""Readiness: can this process do its work right now? ``/healthz`` only says the process
answers; ``readiness`` also asks the database, the migrations, the dispatcher's threads, the
deadline ticker and the backlog, and gives a reason for every check that fails.

A loop is alive when its thread runs and its last pass began recently. A pass that is busy
with one delivery (or one tick) does not beat, so a long delivery is judged by how long it has
been running instead: up to the lease it is working; past the lease another worker may take
its delivery over, so it is reported as stuck."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.bus import outbox
from app.schema import alembic_config
from app.telemetry.pulse import Pulse, judge

if TYPE_CHECKING:
    from app.bus.bus import MessageBus


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: dict[str, Any]
    reasons: tuple[str, ...] = ()


@functools.cache
def script_head() -> str | None:
    """The newest migration this code ships (read once per process)."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def database_check(session: Session) -> tuple[Check, Check]:
    """The database answers; its schema is at the code's head. Raises SQLAlchemyError when
    the database is away."""
    connection = session.connection()
    current = MigrationContext.configure(connection).get_current_revision()
    head = script_head()
    migrations = Check(current == head, {"current": current, "head": head},
                       () if current == head else
                       (f"migrations: the database is at {current or 'no revision'}, this code "
                        f"expects {head} (run 'orderflow init')",))
    return Check(True, {}), migrations


def backlog_check(oldest_due: datetime | None, now: datetime, limit: timedelta) -> Check:
    age = max((now - oldest_due).total_seconds(), 0.0) if oldest_due else 0.0
    detail = {"oldest_pending_age_seconds": round(age, 3),
              "max_age_seconds": limit.total_seconds()}
    if age <= limit.total_seconds():
        return Check(True, detail)
    return Check(False, detail, (f"backlog: the oldest pending delivery has waited {age:.0f} s,"
                                 f" more than ORDERFLOW_READY_MAX_BACKLOG_AGE "
                                 f"({limit.total_seconds():.0f} s)",))


def threads_check(mode: str, threads: dict[str, tuple[threading.Thread | None, Pulse]],
                  *, period: float, lease: timedelta) -> Check:
    """The dispatcher's threads, by name: each must run and be alive in the sense above."""
    if mode == "inline":
        return Check(True, {"mode": "inline", "threads": [],
                            "note": "inline dispatch: no dispatcher threads; deliveries run "
                                    "after each commit and at each tick"})
    now, views, reasons = time.monotonic(), [], []
    for name, (thread, pulse) in threads.items():
        running = thread is not None and thread.is_alive()
        views.append({"name": name, "running": running, **pulse.view(now)})
        why = (None if running else "is not running") or judge(
            pulse, now, period=period, busy_limit=lease.total_seconds(),
            work="one delivery")
        if why:
            reasons.append(f"dispatcher: thread {name} {why}")
    return Check(not reasons, {"mode": mode, "threads": views}, tuple(reasons))


def ticker_check(running: bool, pulse: Pulse | None, *, period: float,
                 busy_limit: timedelta) -> Check:
    """The scheduler's tick (deadlines, due retries) runs and its last tick began recently;
    a tick still at work counts as alive up to ``busy_limit``."""
    if not running or pulse is None:
        return Check(False, {"running": False}, ("ticker: the scheduler is not running",))
    now = time.monotonic()
    why = judge(pulse, now, period=period, busy_limit=busy_limit.total_seconds(),
                work="one tick")
    return Check(why is None, {"running": True, **pulse.view(now)},
                 (f"ticker: the tick {why}",) if why else ())


def readiness(read: Callable[[], Any], database: Callable[[Session], tuple[Check, Check]],
              backlog: Callable[[Session], Check], others: dict[str, Check]
              ) -> tuple[bool, dict[str, Any], list[str]]:
    """Run the checks; returns (ready, checks by name, reasons). ``read`` opens a reading
    session; a database that does not answer fails its own check and skips the two that
    need it."""
    checks: dict[str, Check] = {}
    try:
        with read() as session:
            checks["database"], checks["migrations"] = database(session)
            checks["backlog"] = backlog(session)
    except SQLAlchemyError as error:
        first_line = str(error.orig if getattr(error, "orig", None) else error).splitlines()
        message = f"{type(error).__name__}: {(first_line or [''])[0][:200]}"
        skipped = Check(False, {"skipped": "the database does not answer"})
        checks = {"database": Check(False, {"error": message}, (f"database: {message}",)),
                  "migrations": skipped, "backlog": skipped}
    checks.update(others)
    reasons = [reason for check in checks.values() for reason in check.reasons]
    return not reasons, {name: {"ok": check.ok, **check.detail}
                         for name, check in checks.items()}, reasons


def check(bus: MessageBus, *, ticker_running: bool, tick_pulse: Pulse | None,
          tick_seconds: float) -> tuple[bool, dict[str, Any], list[str]]:
    """Readiness of a running app (see ``readiness``)."""
    settings = bus.settings

    def backlog(session: Session) -> Check:
        now = bus.clock.now()
        return backlog_check(outbox.oldest_due(session, now), now,
                             settings.ready_max_backlog_age)

    dispatcher = bus.dispatcher
    others = {
        "dispatcher": threads_check(dispatcher.mode, dispatcher.threads(),
                                    period=dispatcher.poll_seconds, lease=settings.lease),
        "ticker": ticker_check(ticker_running, tick_pulse, period=tick_seconds,
                               busy_limit=settings.ready_max_backlog_age),
    }
    return readiness(bus.db.reading, database_check, backlog, others)
