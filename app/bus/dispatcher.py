"""Delivers logged messages to their receivers, after commit, through the style's blinker signal.

Two ways in, one way through. Deliveries a commit in this process produced arrive already
claimed (their lease was written with them) and are queued in memory; everything else (retries,
messages left by a dead process, messages published by another process) is claimed from the
database with a lease. Either way a receiver runs in its own unit of work, whose first statement
confirms the claim and the flow's order; a failure is recorded and retried with backoff until it
is parked. ``inline`` mode runs in the calling thread; ``background`` mode in worker threads.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError, OperationalError

from app.bus import outbox
from app.db import is_sqlite
from app.telemetry.pulse import Pulse

if TYPE_CHECKING:
    from app.bus.bus import MessageBus
    from app.bus.unit_of_work import UnitOfWork

log = logging.getLogger("orderflow.dispatcher")
CLAIM_BATCH = 20
# How long stop() waits for deliveries in progress, all threads together. It fits inside
# gunicorn's graceful_timeout (gunicorn.conf.py), which fits inside the 10 s a container runtime
# waits after SIGTERM before it kills: a stopped container exits 0 and loses nothing.
STOP_TIMEOUT_SECONDS = 5.0
LOOK_EVERY = 10  # passes: even while new work keeps coming, due retries get their turn
# a delivery attempt's outcome (its log line, its span, orderflow_deliveries_total)
DONE, DUPLICATE, DEFERRED, LOST, UNRECORDED = "done", "duplicate", "deferred", "lost", "unrecorded"


class ReceiverDidNotCommit(RuntimeError):
    """A receiver opened its unit of work and left without committing: its work is lost."""


def worker_id() -> str:
    """Short enough for ``bus_delivery.claimed_by`` whatever the host is called."""
    return f"{socket.gethostname()[:24]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Dispatcher:
    def __init__(self, bus: MessageBus, *, mode: str, threads: int = 1,
                 poll_seconds: float = 1.0) -> None:
        self.bus = bus
        self.mode = mode
        self.worker = worker_id()
        self._threads_wanted = threads
        self.poll_seconds = poll_seconds
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._local = threading.local()
        self._shared: deque[outbox.Claim] = deque()
        self._lock = threading.Lock()
        self._passes = 0
        self.pulses: dict[str, Pulse] = {}  # per background thread, for /readyz

    def claimant(self) -> str | None:
        """Who new deliveries are claimed for at publication: this worker, when it will run
        them (inline, or background threads running); otherwise nobody, so any process may."""
        return self.worker if self.mode == "inline" or self._threads else None

    # --- the one pass everything goes through -------------------------------------------------
    def run_once(self, limit: int = CLAIM_BATCH, from_database: bool = True) -> int:
        """Deliver queued claims and, when it is time to look, due deliveries from the
        database (at least every LOOK_EVERY passes, so a steady stream of new work cannot starve
        retries); returns how many were tried."""
        self._passes += 1
        queued = self._queued_count()
        look = from_database and (not queued or self._passes % LOOK_EVERY == 0)
        # the database first: if it fails, the queued claims are still in the queue
        from_db = self._claim(max(limit - min(queued, limit), 1)) if look else []
        claims = self._take_queued(limit) + from_db
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

    def _queued_count(self) -> int:
        with self._lock:
            return len(self._queue())

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

    # --- one delivery ---------------------------------------------------------------------------
    def _deliver(self, claim: outbox.Claim) -> None:
        """Never raises: whatever goes wrong is written down for a retry, or logged. Each
        attempt is a span, a log line and two metrics (app.telemetry.instruments)."""
        pulse: Pulse | None = getattr(self._local, "pulse", None)
        if pulse is not None:
            pulse.busy_since = time.monotonic()
        try:
            with self.bus.telemetry.delivering(claim) as record:
                record(self._attempt(claim))
        finally:
            if pulse is not None:
                pulse.busy_since = None

    def _attempt(self, claim: outbox.Claim) -> str:
        """Run one delivery; returns its outcome: done, duplicate (done before), deferred
        (an earlier message of the flow comes first), lost (no longer ours), failed (to be
        retried), parked, or unrecorded (the bookkeeping failed; the lease will expire)."""
        if claim.already_processed:
            return self._guarded(self._finish_duplicate, claim)
        if claim.taken_over:
            started = self._guarded(self._start, claim)
            if started not in (outbox.STARTED, None):
                return started
            claim = replace(claim, counted=started == outbox.STARTED)
        try:
            self._run_receiver(claim)
        except outbox.WaitForEarlier:
            return self._guarded(self._release, claim)
        except outbox.ClaimLost:
            log.info("%s: delivery %s is no longer ours", claim.receiver, claim.delivery_id)
            return LOST
        except IntegrityError as error:
            if _is_duplicate(error):
                return self._guarded(self._finish_duplicate, claim)
            return self._guarded(self._fail, claim, error)
        except Exception as error:
            return self._guarded(self._fail, claim, error)
        return DONE

    def _run_receiver(self, claim: outbox.Claim) -> None:
        envelope = claim.envelope
        receiver = self.bus.wiring.receiver(envelope.style, envelope.type, claim.receiver)
        uow = self.bus.unit_of_work(style=envelope.style, consuming=claim)
        receiver(envelope.message(), uow)
        self._close_books(uow)

    @staticmethod
    def _close_books(uow: UnitOfWork) -> None:
        if not uow.entered:  # the receiver decided, without the database, that nothing changes
            with uow:
                uow.commit()
        elif not uow.committed:
            raise ReceiverDidNotCommit("the receiver left its unit of work without committing")

    def _guarded(self, bookkeeping, claim: outbox.Claim, *args) -> str:  # type: ignore[no-untyped-def]
        """Bookkeeping that fails (the database went away) leaves the lease to expire."""
        try:
            return bookkeeping(claim, *args)
        except Exception:
            log.exception("could not record the outcome of delivery %s", claim.delivery_id)
            return UNRECORDED

    def _start(self, claim: outbox.Claim) -> str | None:
        """A delivery taken over from a claim that never ended: its attempt is counted and
        committed before the receiver runs, so a receiver that kills its process is parked."""
        bus = self.bus
        with bus.db.session() as session:
            started = outbox.start_attempt(session, claim, self.worker, bus.clock.now(),
                                           bus.settings.lease, bus.retry_policy)
            session.commit()
        if started == outbox.PARKED:
            log.warning("%s parked on %s: its attempts ended without a word (crashed process)",
                        claim.receiver, claim.envelope.short_type)
        return started

    def _finish_duplicate(self, claim: outbox.Claim) -> str:
        with self.bus.db.session() as session:
            outbox.mark_duplicate_done(session, claim.delivery_id, self.bus.clock.now())
            session.commit()
        return DUPLICATE

    def _release(self, claim: outbox.Claim) -> str:
        with self.bus.db.session() as session:
            outbox.release(session, claim.delivery_id, self.worker)
            session.commit()
        return DEFERRED

    def _fail(self, claim: outbox.Claim, error: Exception) -> str:
        text = "".join(traceback.format_exception_only(error)).strip()
        with self.bus.db.session() as session:
            status = outbox.record_failure(session, claim.delivery_id, self.worker, text,
                                           self.bus.clock.now(), self.bus.retry_policy,
                                           counted=claim.counted)
            session.commit()
        log.warning("%s failed on %s (%s): %s", claim.receiver, claim.envelope.short_type,
                    status or "no longer ours", text)
        return status or LOST

    # --- new work -------------------------------------------------------------------------------
    def notify(self, claims: list[outbox.Claim]) -> None:
        """A commit produced these deliveries (already claimed for this worker)."""
        queue = self._queue()
        with self._lock:
            queue.extend(claims)
        if self.mode != "inline":
            self._wake.set()
        elif not getattr(self._local, "active", False):
            # what the commit caused, to the end; retries and leftovers wait for the tick
            self._settle_safely(from_database=False)

    def tick(self) -> None:
        """The scheduler's heartbeat: look for due retries and deliveries left elsewhere."""
        if self.mode != "inline":
            self._wake.set()
        elif not getattr(self._local, "active", False):
            self._settle_safely(from_database=True)

    def _settle_safely(self, from_database: bool) -> None:
        """Inline dispatch runs after the caller's commit: its trouble must not undo the
        caller's success (a failed delivery is retried; a lost claim waits for its lease)."""
        try:
            self.run_until_quiet(from_database=from_database)
        except Exception:
            log.exception("inline dispatch stopped; the tick will take it up again")

    # --- background threads ---------------------------------------------------------------------
    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        for name in self.thread_names():
            pulse = self.pulses[name] = Pulse()
            thread = threading.Thread(target=self._loop, args=(pulse,), name=name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def thread_names(self) -> list[str]:
        return [f"orderflow-dispatch-{number}" for number in range(self._threads_wanted)]

    def threads(self) -> dict[str, tuple[threading.Thread | None, Pulse]]:
        """Each background thread this dispatcher should run, by name: the thread (None when
        it is not started) and its pulse."""
        running = {thread.name: thread for thread in self._threads}
        return {name: (running.get(name), self.pulses.get(name) or Pulse())
                for name in self.thread_names()}

    def _loop(self, pulse: Pulse) -> None:
        self._local.pulse = pulse
        while not self._stopping.is_set():
            pulse.beat = time.monotonic()
            try:
                attempted = self.run_once()
            except OperationalError as error:  # database busy or briefly away: try again soon
                log.warning("dispatch pass failed: %s", error)
                attempted = 0
            except Exception:
                log.exception("dispatch pass failed")
                attempted = 0
            if attempted == 0:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Stop the threads and hand back what this worker claimed but did not run. If a
        thread is still busy after ``timeout`` (for all threads together), its claims keep
        their leases and another worker takes them up when the leases run out."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        busy = any(thread.is_alive() for thread in self._threads)
        self._threads = []
        with self._lock:
            self._shared.clear()
        if not busy:
            with self.bus.db.session() as session:
                outbox.release_claims(session, self.worker)
                session.commit()


def _is_duplicate(error: IntegrityError) -> bool:
    return "bus_processed" in str(error.orig).lower()
