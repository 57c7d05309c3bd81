"""orderflow: the composition root. ``create_app`` builds everything; nothing connects or
starts at import time, and background work starts only when ``Runtime.start`` is called."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from apscheduler.schedulers.background import BackgroundScheduler
from flask_openapi3 import Info, OpenAPI
from opentelemetry.trace import TracerProvider
from prometheus_client import CollectorRegistry

from app import cli, dashboard
from app.backup import ServingLock, sqlite_file
from app.bus import MessageBus, time_check
from app.bus.manual_time import SharedManualClock
from app.clock import Clock, SystemClock
from app.config import (
    ADMIN_TOKEN_MIN_LENGTH,
    ConfigError,
    Settings,
    check_data_dir,
    from_environment,
    unknown_variables,
)
from app.db import Database, make_engine
from app.http import errors, headers, limits, operations, system
from app.http.openapi import SECURITY_SCHEMES, Api
from app.modules import registry
from app.modules.orders.metrics import orders_gauge
from app.modules.payment.provider import SimulatedPaymentProvider
from app.modules.shipping.carrier import SimulatedCarrier
from app.modules.webhooks.sender import HttpWebhookSender
from app.telemetry import health, logs, metrics, web
from app.telemetry.instruments import Telemetry
from app.telemetry.pulse import Pulse
from app.telemetry.tracing import Tracing

__version__ = "0.2.0"  # 0.2: errors are RFC 9457 problem details (ADR 0025)
TICK_SECONDS = 1
PRUNE_EVERY_SECONDS = 300  # retention (ORDERFLOW_RETAIN_FINISHED): far less often than the tick
PRUNE_JITTER_SECONDS = 60  # so that replicas started together do not prune in step
PRUNE_BATCHES_PER_RUN = 50  # 10,000 flows at most per run; a backlog is worked off over runs


@dataclass
class Runtime:
    """What a running app holds: the bus, its settings, the admin token, the ticking scheduler."""

    bus: MessageBus
    settings: Settings
    admin_token: str | None
    data_dir: Path
    metrics: CollectorRegistry  # this app's gauges, read from the database at scrape time
    scheduler: BackgroundScheduler | None = None
    tick_pulse: Pulse | None = None  # the tick's heartbeat, for /readyz
    stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    serving: ServingLock | None = None  # held while serving a SQLite file: restore checks it

    def start(self) -> None:
        """Recover what an earlier process left undelivered, then keep dispatching: worker
        threads in background mode; in both modes a tick that picks up due retries. The
        log lines go out in ORDERFLOW_LOG_FORMAT from now on."""
        logs.configure(self.settings.log_format)
        self.check_the_clock()
        self.hold_serving_lock()
        if self.settings.dispatch == "inline":
            self.bus.settle()
        else:
            self.bus.dispatcher.start()
        self.tick_pulse = Pulse()
        self.scheduler = BackgroundScheduler(daemon=True)
        self.scheduler.add_job(self.tick, "interval", seconds=TICK_SECONDS,
                               id="tick", coalesce=True, misfire_grace_time=None,
                               max_instances=1)
        if self.settings.retain_finished is not None:
            self.scheduler.add_job(self.prune, "interval", seconds=PRUNE_EVERY_SECONDS,
                                   jitter=PRUNE_JITTER_SECONDS, id="prune", coalesce=True,
                                   misfire_grace_time=None, max_instances=1)
        self.scheduler.start()

    def check_the_clock(self) -> None:
        """On the system clock, a message log from the future (a manual clock moved ahead)
        stops the start: ``time_check.ClockBehind`` says what to do."""
        if isinstance(self.bus.clock, SystemClock):
            time_check.check(self.bus.db, self.bus.clock.now(), self.settings.clock_tolerance)

    def hold_serving_lock(self) -> None:
        """Tell ``orderflow restore`` that a shop serves this SQLite file (a shared lock on
        ``<db>.lock``; it waits while a restore runs)."""
        database = sqlite_file(self.bus.db.engine.url)
        if database is not None and self.serving is None:
            self.serving = ServingLock(database)
            self.serving.hold_shared()

    def tick(self) -> None:
        """Every second: fire due deadlines, pick up due deliveries."""
        pulse = self.tick_pulse or Pulse()
        pulse.beat = pulse.busy_since = time.monotonic()
        try:
            self.bus.tick()
        finally:
            pulse.busy_since = None

    def readiness(self) -> tuple[bool, dict, list[str]]:
        """(ready, checks, reasons): see app.telemetry.health."""
        running = self.scheduler is not None and self.scheduler.running
        return health.check(self.bus, ticker_running=running, tick_pulse=self.tick_pulse,
                            tick_seconds=TICK_SECONDS)

    def prune(self) -> None:
        """Every few minutes: delete the message log of finished flows past retention, in
        small batches (``MessageBus.prune`` logs a line when it pruned something)."""
        self.bus.prune(max_batches=PRUNE_BATCHES_PER_RUN, stopping=self.stopping.is_set)

    def close(self) -> None:
        self.stopping.set()  # a pruning run stops after its current batch
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)  # a running tick finishes before unwiring
            self.scheduler = None
        self.bus.close()
        self.bus.db.dispose()
        if self.serving is not None:
            self.serving.release()
            self.serving = None
        self.bus.telemetry.shutdown()  # sends the spans still waiting for the exporter


API_ABOUT = ("The order-fulfilment back end of a webshop: place an order, follow it through "
             "payment, inventory and shipping in the collaboration style it names, and operate "
             "it (tasks, dead letters, the clock). Errors are RFC 9457 problem details.")
ORDERS_GAUGE_SECONDS = 30.0  # orders by status and style: a GROUP BY, read this often at most


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               adapters: SimpleNamespace | None = None,
               tracer_provider: TracerProvider | None = None) -> OpenAPI:
    """``tracer_provider``: where spans go (default: from the OTEL_* variables, see
    app.telemetry.tracing)."""
    if settings is None:
        settings = from_environment()
        for warning in unknown_variables():
            logging.getLogger("orderflow.config").warning(warning)
    app = Api(__name__, info=Info(title="orderflow", version=__version__, description=API_ABOUT),
              doc_prefix="/api", doc_url="/openapi.json", security_schemes=SECURITY_SCHEMES,
              validation_error_status=422, validation_error_model=errors.Problem,
              responses={422: errors.Problem},
              validation_error_callback=errors.validation_error_response)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    data_dir = check_data_dir(settings, app.instance_path)
    db = Database(make_engine(database_url(settings, str(data_dir))))
    tracing = Tracing(tracer_provider)
    bus = MessageBus(db, settings, clock or default_clock(settings, db),
                     adapters or simulated_adapters(db, settings), Telemetry(tracing))
    registry.connect(bus.wiring)
    bus.wiring.validate()
    gauges = metrics.app_registry(db, bus.clock.now,
                                  [metrics.Cached(orders_gauge, ORDERS_GAUGE_SECONDS)])
    app.extensions["orderflow"] = Runtime(bus, settings, admin_token(settings, str(data_dir)),
                                          data_dir, gauges)
    web.register(app, tracing)
    errors.register(app)
    headers.register(app)
    limiter = limits.register(app, settings)
    app.register_api(system.blueprint)
    app.register_api(operations.blueprint)
    registry.register_blueprints(app)
    limits.limit_views(app, limiter, settings)
    dashboard.register(app, secret_key(settings, str(data_dir)),
                       cookie_secure=settings.cookie_secure)
    cli.register(app)
    return app


def default_clock(settings: Settings, db: Database) -> Clock:
    return SharedManualClock(db) if settings.clock == "manual" else SystemClock()


def simulated_adapters(db: Database, settings: Settings | None = None) -> SimpleNamespace:
    """The sandbox payment provider and carrier, and the one real outside call: webhooks'
    HTTP sender. ``tok_outage`` stays down for as many attempts as the retry policy makes
    automatically, so only an operator's retry gets through."""
    settings = settings or Settings()
    provider = SimulatedPaymentProvider(db, outage_attempts=settings.retry_max_attempts,
                                        slow_latency=settings.slow_token_latency)
    return SimpleNamespace(payment_provider=provider,
                           carrier=SimulatedCarrier(db),
                           webhook_sender=HttpWebhookSender(settings.webhook_timeout))


def database_url(settings: Settings, data_dir: str) -> str:
    if settings.database_url:
        return settings.database_url
    return f"sqlite:///{Path(data_dir) / 'orderflow.db'}"


ADMIN_TOKEN_FILE = "admin_token"


def admin_token(settings: Settings, data_dir: str) -> str | None:
    if settings.admin_token:
        return settings.admin_token
    stored = Path(data_dir) / ADMIN_TOKEN_FILE
    if not stored.exists():
        return None
    token = stored.read_text().strip()
    if len(token) < ADMIN_TOKEN_MIN_LENGTH:  # as ORDERFLOW_ADMIN_TOKEN: no guessable token
        raise ConfigError(f"{stored} holds an admin token of {len(token)} characters; expected "
                          f"at least {ADMIN_TOKEN_MIN_LENGTH} (delete it and run 'orderflow "
                          "init' to make a new one, or set ORDERFLOW_ADMIN_TOKEN)")
    return token


SECRET_KEY_FILE = "secret_key"


def secret_key(settings: Settings, data_dir: str) -> str:
    """``ORDERFLOW_SECRET_KEY``, or a random key kept in the instance folder, made by the first
    process that needs it (written aside, then linked into place, so that two workers starting
    at once still agree on one key)."""
    if settings.secret_key:
        return settings.secret_key
    return write_secret_once(Path(data_dir) / SECRET_KEY_FILE, secrets.token_hex(32))


def write_secret_once(stored: Path, value: str) -> str:
    """The secret in ``stored``, written first when missing: aside, readable by its owner only,
    then linked into place, so that processes starting at once all keep the first one."""
    if not stored.exists():
        stored.parent.mkdir(parents=True, exist_ok=True)
        draft = stored.with_name(f".{stored.name}.{secrets.token_hex(8)}")
        draft.write_text(value + "\n")
        draft.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(draft, stored)
        draft.unlink()
    return stored.read_text().strip()
