"""The message bus: the database, the wiring, the clock and the dispatcher, held together."""

from __future__ import annotations

from types import SimpleNamespace

from app.bus.dispatcher import Dispatcher
from app.bus.outbox import Claim, RetryPolicy
from app.bus.unit_of_work import UnitOfWork
from app.bus.wiring import Wiring
from app.clock import Clock
from app.config import STYLES, Settings
from app.db import Database


class MessageBus:
    def __init__(self, db: Database, settings: Settings, clock: Clock,
                 adapters: SimpleNamespace | None = None) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.adapters = adapters or SimpleNamespace()
        self.wiring = Wiring(STYLES)
        self.retry_policy = RetryPolicy(settings.retry_base, settings.retry_factor,
                                        settings.retry_max_attempts)
        self.dispatcher = Dispatcher(self, mode=settings.dispatch,
                                     threads=settings.dispatch_threads)

    def unit_of_work(self, *, style: str | None = None, consuming: Claim | None = None,
                     module: str | None = None) -> UnitOfWork:
        return UnitOfWork(self, style=style or self.settings.style, consuming=consuming,
                          module=module)

    def after_commit(self, claims: list[Claim]) -> None:
        """Deliveries a commit produced go to the dispatcher; only now may they run."""
        if claims:
            self.dispatcher.notify(claims)

    def settle(self) -> int:
        """Deliver everything that is due now, in this thread; returns the deliveries made."""
        return self.dispatcher.run_until_quiet()

    def close(self) -> None:
        self.dispatcher.stop()
        self.wiring.disconnect_all()
