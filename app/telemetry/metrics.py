"""Prometheus metrics. Counters and histograms are process-wide (prometheus_client wants each
defined once); under gunicorn they live in PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py sets it
before the workers import the app) and a scrape adds up every worker's files. Gauges are read
from the database at scrape time by a collector in a registry of the app's own, so every worker
answers the same, and the many apps a test run builds never register twice."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.bus import outbox
from app.bus.log import FAILED_DEADLINE, PARKED, PENDING_DEADLINE, WAITING, DeadlineRecord
from app.db import Database

MESSAGES_PUBLISHED = Counter(
    "orderflow_messages_published", "Messages logged by a committed unit of work",
    ["type", "kind", "style"])
DELIVERIES = Counter(
    "orderflow_deliveries", "Delivery attempts by receiver and outcome (done, failed, parked, "
    "duplicate, deferred, lost, unrecorded)", ["receiver", "outcome"])
DELIVERY_SECONDS = Histogram(
    "orderflow_delivery_duration_seconds", "Time of one delivery attempt, bookkeeping included",
    ["receiver"], buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30))
HTTP_REQUESTS = Counter(
    "orderflow_http_requests", "HTTP requests answered, by route (the URL rule)",
    ["method", "route", "status"])
HTTP_SECONDS = Histogram(
    "orderflow_http_request_duration_seconds", "Time to answer an HTTP request",
    ["method", "route"], buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))

# A module's gauges: given a reading session, the metric families it wants to show
GaugeSource = Callable[[Session], Iterable[Metric]]
_deadlines = DeadlineRecord.__table__
_WAITING_COUNT = select(func.count()).select_from(outbox.deliveries).where(
    outbox.deliveries.c.status.in_(WAITING))
_PARKED_COUNT = select(func.count()).select_from(outbox.deliveries).where(
    outbox.deliveries.c.status == PARKED)


_FAILED_DEADLINES = select(func.count()).select_from(_deadlines).where(
    _deadlines.c.status == FAILED_DEADLINE)


def _due_deadlines(now: datetime):  # type: ignore[no-untyped-def]
    return select(func.count()).select_from(_deadlines).where(
        _deadlines.c.status == PENDING_DEADLINE, _deadlines.c.due_at <= now)


def gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class DatabaseCollector:
    """The backlog, the dead letters, the due deadlines and whatever the modules add, read
    when Prometheus scrapes. Every count uses an index (see docs/operations.md)."""

    def __init__(self, db: Database, now: Callable[[], datetime],
                 sources: list[GaugeSource]) -> None:
        self.db, self.now, self.sources = db, now, sources

    def collect(self) -> Iterator[Metric]:
        try:
            families = self._read()
        except SQLAlchemyError:
            families = []
        yield gauge("orderflow_database_up", "1 when the database answered this scrape",
                    1 if families else 0)
        yield from families

    def _read(self) -> list[Metric]:
        now = self.now()
        with self.db.reading() as session:
            connection = session.connection()
            oldest = outbox.oldest_due(session, now)
            families: list[Metric] = [
                gauge("orderflow_outbox_pending_messages", "Deliveries waiting: pending, or "
                      "failed and waiting for their retry",
                      connection.execute(_WAITING_COUNT).scalar_one()),
                gauge("orderflow_outbox_oldest_pending_age_seconds", "How long the oldest "
                      "delivery the dispatcher could take now has been due (0: none)",
                      max((now - oldest).total_seconds(), 0.0) if oldest else 0.0),
                gauge("orderflow_dead_letter_messages", "Parked deliveries (retries exhausted),"
                      " waiting for an operator", connection.execute(_PARKED_COUNT).scalar_one()),
                gauge("orderflow_deadlines_due", "Pending deadlines whose time has come",
                      connection.execute(_due_deadlines(now)).scalar_one()),
                gauge("orderflow_deadlines_failed", "Deadlines set aside after their last "
                      "failed firing, waiting for an operator",
                      connection.execute(_FAILED_DEADLINES).scalar_one()),
            ]
            for source in self.sources:
                families.extend(source(session))
        return families


class Cached:
    """A gauge source read at most once every ``seconds`` (for a GROUP BY over a big table)."""

    def __init__(self, source: GaugeSource, seconds: float) -> None:
        self.source, self.seconds = source, seconds
        self._value: list[Metric] = []
        self._at = float("-inf")

    def __call__(self, session: Session) -> list[Metric]:
        if time.monotonic() - self._at >= self.seconds:
            self._value, self._at = list(self.source(session)), time.monotonic()
        return self._value


def app_registry(db: Database, now: Callable[[], datetime],
                 sources: list[GaugeSource]) -> CollectorRegistry:
    """The app's own registry: the database gauges (no describe(), so registering does not
    query)."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(db, now, sources))  # type: ignore[arg-type]
    return registry


def exposition(app_gauges: CollectorRegistry) -> bytes:
    """The text a scrape gets: this process's (or every worker's) counters and histograms,
    then the gauges read from the database."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process_wide = CollectorRegistry()
        MultiProcessCollector(process_wide)
    else:
        process_wide = REGISTRY
    return generate_latest(process_wide) + generate_latest(app_gauges)


def observe_delivery(receiver: str, outcome: str, seconds: float) -> None:
    DELIVERIES.labels(receiver, outcome).inc()
    DELIVERY_SECONDS.labels(receiver).observe(seconds)


def observe_published(published: list[tuple[str, str, str]]) -> None:
    for labels in published:
        MESSAGES_PUBLISHED.labels(*labels).inc()


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    """Any other method is ``_OTHER`` (OpenTelemetry's convention): a client that invents
    methods must not make a new series for each."""
    method = method if method in KNOWN_METHODS else "_OTHER"
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route).observe(seconds)


def family_samples(families: Iterable[Metric]) -> dict[str, Any]:  # for tests and the docs
    return {sample.name: sample.value for family in families for sample in family.samples}
