"""Delivers logged messages to their receivers, after commit, through the style's blinker signal.

A delivery is claimed (with a lease) before it runs, so several threads or processes can share
the work; a receiver runs in its own unit of work; a failure is recorded and retried with backoff
until it is parked. ``inline`` mode runs to quiescence in the calling thread."""

from __future__ import annotations

import logging
import os
import socket
import threading
import traceback
import uuid
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError, OperationalError

from app.bus import outbox
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

    # --- the one pass everything goes through -------------------------------------------------
    def run_once(self, limit: int = CLAIM_BATCH) -> int:
        """Claim due deliveries and deliver them; returns how many were attempted."""
        claims = self._claim(limit)
        for claim in claims:
            self._deliver(claim)
        return len(claims)

    def run_until_quiet(self, max_deliveries: int = 1_000_000) -> int:
        done = 0
        self._local.active = True
        try:
            while done < max_deliveries:
                count = self.run_once()
                if count == 0:
                    return done
                done += count
            raise RuntimeError(f"dispatch did not settle after {max_deliveries} deliveries")
        finally:
            self._local.active = False

    def _claim(self, limit: int) -> list[outbox.Claim]:
        bus = self.bus
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

    def _fail(self, claim: outbox.Claim, error: Exception) -> None:
        text = "".join(traceback.format_exception_only(error)).strip()
        with self.bus.db.session() as session:
            status = outbox.record_failure(session, claim.delivery_id, text,
                                           self.bus.clock.now(), self.bus.retry_policy)
            session.commit()
        log.warning("%s failed on %s (%s): %s", claim.receiver, claim.envelope.short_type,
                    status, text)

    # --- after commit ---------------------------------------------------------------------------
    def notify(self) -> None:
        if self.mode == "inline":
            if not getattr(self._local, "active", False):
                self.run_until_quiet()
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
            thread.start()
            self._threads.append(thread)

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
    text = str(error.orig).lower()
    return "bus_processed" in text
