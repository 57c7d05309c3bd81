"""Delivers logged messages to their receivers, after commit, through the style's blinker signal.

Two ways in, one way through. Deliveries a commit in this process produced arrive already
claimed (their lease was written with them) and are queued in memory; everything else (retries,
messages left by a dead process, messages published by another process) is claimed from the
database with a lease. Either way a receiver runs in its own unit of work, a failure is recorded
and retried with backoff until it is parked, and a module sees one flow's messages in order.
``inline`` mode runs to quiescence in the calling thread; ``background`` mode in worker threads.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from collections import deque
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError, OperationalError

from app.bus import outbox
from app.bus.unit_of_work import WaitForEarlier
from app.db import is_sqlite

if TYPE_CHECKING:
    from app.bus.bus import MessageBus

log = logging.getLogger("orderflow.dispatcher")
CLAIM_BATCH = 20


class Dispatcher:
    def __init__(self, bus: MessageBus, *, mode: str, threads: int = 1,
                 poll_seconds: float = 1.0) -> None:
        self.bus = bus
        self.mode = mode
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._threads_wanted = threads
        self._poll = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._local = threading.local()
        self._shared: deque[outbox.Claim] = deque()
        self._lock = threading.Lock()

    def claimant(self) -> str | None:
        """Who new deliveries are claimed for at publication: this worker, when it will run
        them (inline, or background threads running); otherwise nobody, so any process may."""
        return self.worker if self.mode == "inline" or self._threads else None

    # --- the one pass everything goes through -------------------------------------------------
    def run_once(self, limit: int = CLAIM_BATCH, from_database: bool = True) -> int:
        """Deliver queued claims, or else claim due deliveries; returns how many were tried."""
        queued = self._take_queued(limit)
        for claim in queued:
            self._deliver(claim)
        if queued or not from_database:
            return len(queued)
        claims = self._claim(limit)
        for claim in claims:
            self._deliver(claim)
        return len(claims)

    def run_until_quiet(self, max_deliveries: int = 1_000_000, from_database: bool = True
                        ) -> int:
        """Deliver until nothing is left: what commits in this thread produced and, unless
        ``from_database`` is off, whatever else is due in the database."""
        done = 0
        self._local.active = True
        try:
            while done < max_deliveries:
                count = self.run_once(from_database=from_database)
                if count == 0:
                    return done
                done += count
            raise RuntimeError(f"dispatch did not settle after {max_deliveries} deliveries")
        finally:
            self._local.active = False

    def _queue(self) -> deque[outbox.Claim]:
        if self.mode != "inline":
            return self._shared
        if not hasattr(self._local, "queue"):
            self._local.queue = deque()
        return self._local.queue

    def _take_queued(self, limit: int) -> list[outbox.Claim]:
        queue = self._queue()
        with self._lock:
            return [queue.popleft() for _ in range(min(limit, len(queue)))]

    def _claim(self, limit: int) -> list[outbox.Claim]:
        bus = self.bus
        with bus.db.reading() as session:
            if not outbox.anything_due(session, bus.clock.now()):
                return []
        with bus.db.session() as session:
            claims = outbox.claim(session, self.worker, bus.clock.now(), bus.settings.lease,
                                  limit, skip_locked=not is_sqlite(bus.db.engine))
            session.commit()
        return claims

    def _deliver(self, claim: outbox.Claim) -> None:
        if claim.already_processed:
            self._finish_duplicate(claim)
            return
        try:
            receiver = self.bus.wiring.receiver(claim.envelope.style, claim.envelope.type,
                                                claim.receiver)
            uow = self.bus.unit_of_work(style=claim.envelope.style, consuming=claim)
            receiver(claim.envelope.message(), uow)
            if not uow.committed:  # the receiver decided there was nothing to change
                with uow:
                    uow.commit()
        except WaitForEarlier:
            self._release(claim)
        except IntegrityError as error:
            if _is_duplicate(error):
                self._finish_duplicate(claim)
            else:
                self._fail(claim, error)
        except Exception as error:
            self._fail(claim, error)

    def _finish_duplicate(self, claim: outbox.Claim) -> None:
        with self.bus.db.session() as session:
            outbox.mark_duplicate_done(session, claim.delivery_id, self.bus.clock.now())
            session.commit()

    def _release(self, claim: outbox.Claim) -> None:
        with self.bus.db.session() as session:
            outbox.release(session, claim.delivery_id)
            session.commit()

    def _fail(self, claim: outbox.Claim, error: Exception) -> None:
        text = "".join(traceback.format_exception_only(error)).strip()
        with self.bus.db.session() as session:
            status = outbox.record_failure(session, claim.delivery_id, text,
                                           self.bus.clock.now(), self.bus.retry_policy)
            session.commit()
        log.warning("%s failed on %s (%s): %s", claim.receiver, claim.envelope.short_type,
                    status, text)

    # --- after commit ---------------------------------------------------------------------------
    def notify(self, claims: list[outbox.Claim] | None = None) -> None:
        """New work: claims a commit produced, or (from the scheduler's tick) maybe some due."""
        if claims:
            queue = self._queue()
            with self._lock:
                queue.extend(claims)
        if self.mode == "inline":
            if not getattr(self._local, "active", False):
                # what the commit caused, to the end; retries and leftovers wait for the tick
                self.run_until_quiet(from_database=not claims)
        else:
            self._wake.set()

    # --- background threads ---------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        for number in range(self._threads_wanted):
            thread = threading.Thread(target=self._loop, name=f"orderflow-dispatch-{number}",
                                      daemon=True)
            self._threads.append(thread)
            thread.start()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                attempted = self.run_once()
            except OperationalError as error:  # database busy or briefly away: try again soon
                log.warning("dispatch pass failed: %s", error)
                attempted = 0
            except Exception:
                log.exception("dispatch pass failed")
                attempted = 0
            if attempted == 0:
                self._wake.wait(self._poll)
                self._wake.clear()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []
        with self.bus.db.session() as session:
            outbox.release_claims(session, self.worker)
            session.commit()


def _is_duplicate(error: IntegrityError) -> bool:
    return "bus_processed" in str(error.orig).lower()
