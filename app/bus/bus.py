"""The message bus: the database, the wiring, the clock and the dispatcher, held together."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace

from sqlalchemy.exc import DBAPIError

from app.bus import deadlines, outbox, retention
from app.bus.dispatcher import Dispatcher
from app.bus.log import FAILED_DEADLINE
from app.bus.outbox import Claim, RetryPolicy
from app.bus.unit_of_work import UnitOfWork
from app.bus.wiring import Wiring
from app.clock import Clock
from app.config import STYLES, Settings
from app.db import Database
from app.telemetry.instruments import Telemetry

log = logging.getLogger("orderflow.bus")


class MessageBus:
    def __init__(self, db: Database, settings: Settings, clock: Clock,
                 adapters: SimpleNamespace | None = None,
                 telemetry: Telemetry | None = None) -> None:
        self.db = db
        self.telemetry = telemetry or Telemetry()
        self.settings = settings
        self.clock = clock
        self.adapters = adapters or SimpleNamespace()
        self.wiring = Wiring(STYLES)
        self.retry_policy = RetryPolicy(settings.retry_base, settings.retry_factor,
                                        settings.retry_max_attempts)
        self.dispatcher = Dispatcher(self, mode=settings.dispatch,
                                     threads=settings.dispatch_threads)

    def unit_of_work(self, *, style: str | None = None, consuming: Claim | None = None,
                     module: str | None = None, caused_by: str | None = None) -> UnitOfWork:
        return UnitOfWork(self, style=style or self.settings.style, consuming=consuming,
                          module=module, caused_by=caused_by)

    def after_commit(self, claims: list[Claim]) -> None:
        """Deliveries a commit produced go to the dispatcher; only now may they run."""
        if claims:
            self.dispatcher.notify(claims)

    def settle(self) -> int:
        """Fire due deadlines and deliver everything that is due now, in this thread, until
        nothing is left; returns the deliveries made."""
        delivered = 0
        while True:
            fired = self.fire_due_deadlines()
            count = self.dispatcher.run_until_quiet()
            delivered += count
            if not fired and not count:
                return delivered

    def tick(self) -> None:
        """The scheduler's heartbeat: fire due deadlines, then look for due deliveries (even
        when the database refused the first part)."""
        try:
            self.fire_due_deadlines()
        finally:
            self.dispatcher.tick()

    def fire_due_deadlines(self, batch: int = 50) -> int:
        """Publish the message of every deadline that is due; returns how many fired here."""
        fired = 0
        while ids := self._due_deadlines(batch):
            fired += sum(self._fire_or_set_aside(deadline_id) for deadline_id in ids)
            if len(ids) < batch:
                break
        return fired

    def _fire_or_set_aside(self, deadline_id: int) -> bool:
        """A database that is away is tried again at the next tick; any other failure is
        counted and tried again after the bus's backoff, then set aside as failed (visibly:
        its order is stuck) after the last attempt; the deadlines after it still fire."""
        try:
            return self._fire(deadline_id)
        except DBAPIError:
            raise
        except Exception as error:
            with self.db.session() as session:
                status = deadlines.fail(session, deadline_id, f"{type(error).__name__}: {error}",
                                        self.clock.now(), self.retry_policy)
                session.commit()
            log.exception("deadline %s cannot fire; %s", deadline_id,
                          "set aside as failed" if status == FAILED_DEADLINE else
                          "tried again later")
            return False

    def _due_deadlines(self, batch: int) -> list[int]:
        with self.db.reading() as session:
            return deadlines.due(session, self.clock.now(), batch)

    def _fire(self, deadline_id: int) -> bool:
        """One transaction: flip the deadline to fired and log its message in its flow's style,
        as the module that set it."""
        with self.unit_of_work() as uow:
            due = deadlines.take(uow.session, deadline_id, self.clock.now())
            if due is None:  # cancelled meanwhile, or another process fired it
                return False
            uow.style, uow.module, uow.caused_by = due.style, due.owner, due.causationid
            traceparent = outbox.traceparent_of_cause(uow.session, due.causationid, due.flowid)
            with self.telemetry.tracing.continuing(traceparent):
                uow.publish(due.message)
            uow.commit()
        return True

    def prune(self, older_than: timedelta | None = None, *, batch: int = retention.BATCH,
              max_batches: int | None = None, dry_run: bool = False,
              progress: Callable[[retention.Pruned], None] | None = None,
              stopping: Callable[[], bool] = lambda: False) -> retention.Pruned:
        """Delete the log of finished flows silent for ``older_than`` (by default
        ORDERFLOW_RETAIN_FINISHED; nothing when that is ``never``), ``batch`` flows per
        transaction; returns the counts. One log line when it pruned something."""
        keep = older_than or self.settings.retain_finished
        if keep is None:
            return retention.Pruned()
        now = self.clock.now()
        pruned = retention.prune(self.db, cutoff=now - keep, now=now,
                                 flow_ends=self.wiring.flow_ends, batch=batch,
                                 max_batches=max_batches, dry_run=dry_run, progress=progress,
                                 stopping=stopping)
        if pruned.flows and not dry_run:
            retention.log.info(
                "retention: pruned %s (finished flows silent since before %s) in %d "
                "batch(es), %.2f s", pruned.describe(), (now - keep).isoformat(timespec="seconds"),
                pruned.batches, pruned.seconds)
        return pruned

    def close(self) -> None:
        self.dispatcher.stop()
        self.wiring.disconnect_all()
