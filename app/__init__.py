"""orderflow: the composition root. ``create_app`` builds everything; nothing connects or
starts at import time, and background work starts only when ``Runtime.start`` is called."""

from __future__ import annotations

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from apscheduler.schedulers.background import BackgroundScheduler
from flask_openapi3 import Info, OpenAPI

from app import cli, dashboard
from app.backup import ServingLock, sqlite_file
from app.bus import MessageBus
from app.bus.manual_time import SharedManualClock
from app.clock import Clock, SystemClock
from app.config import Settings, from_environment
from app.db import Database, make_engine
from app.http import errors, operations, system
from app.modules import registry
from app.modules.payment.provider import SimulatedPaymentProvider
from app.modules.shipping.carrier import SimulatedCarrier

__version__ = "0.1.0"
TICK_SECONDS = 1


@dataclass
class Runtime:
    """What a running app holds: the bus, its settings, the admin token, the ticking scheduler."""

    bus: MessageBus
    settings: Settings
    admin_token: str | None
    scheduler: BackgroundScheduler | None = None
    serving: ServingLock | None = None  # held while serving a SQLite file: restore checks it

    def start(self) -> None:
        """Recover what an earlier process left undelivered, then keep dispatching: worker
        threads in background mode; in both modes a tick that picks up due retries."""
        self.hold_serving_lock()
        if self.settings.dispatch == "inline":
            self.bus.settle()
        else:
            self.bus.dispatcher.start()
        self.scheduler = BackgroundScheduler(daemon=True)
        self.scheduler.add_job(self.tick, "interval", seconds=TICK_SECONDS,
                               id="tick", coalesce=True, misfire_grace_time=None,
                               max_instances=1)
        self.scheduler.start()

    def hold_serving_lock(self) -> None:
        """Tell ``orderflow restore`` that a shop serves this SQLite file (a shared lock on
        ``<db>.lock``; it waits while a restore runs)."""
        database = sqlite_file(self.bus.db.engine.url)
        if database is not None and self.serving is None:
            self.serving = ServingLock(database)
            self.serving.hold_shared()

    def tick(self) -> None:
        """Every second: fire due deadlines, pick up due deliveries."""
        self.bus.tick()

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)  # a running tick finishes before unwiring
            self.scheduler = None
        self.bus.close()
        self.bus.db.dispose()
        if self.serving is not None:
            self.serving.release()
            self.serving = None


def create_app(settings: Settings | None = None, *, clock: Clock | None = None,
               adapters: SimpleNamespace | None = None) -> OpenAPI:
    settings = settings or from_environment()
    app = OpenAPI(__name__, info=Info(title="orderflow", version=__version__),
                  doc_prefix="/api", doc_url="/openapi.json",
                  validation_error_status=422, validation_error_model=errors.ErrorBody,
                  responses={422: errors.ErrorBody},
                  validation_error_callback=errors.validation_error_response)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    db = Database(make_engine(database_url(settings, app.instance_path)))
    bus = MessageBus(db, settings, clock or default_clock(settings, db),
                     adapters or simulated_adapters(settings))
    registry.connect(bus.wiring)
    bus.wiring.validate()
    app.extensions["orderflow"] = Runtime(bus, settings, admin_token(settings, app.instance_path))
    errors.register(app)
    app.register_api(system.blueprint)
    app.register_api(operations.blueprint)
    registry.register_blueprints(app)
    dashboard.register(app, secret_key(settings, app.instance_path))
    cli.register(app)
    return app


def default_clock(settings: Settings, db: Database) -> Clock:
    return SharedManualClock(db) if settings.clock == "manual" else SystemClock()


def simulated_adapters(settings: Settings | None = None) -> SimpleNamespace:
    """The sandbox payment provider and carrier. ``tok_outage`` stays down for as many attempts
    as the retry policy makes automatically, so only an operator's retry gets through."""
    outage = (settings or Settings()).retry_max_attempts
    return SimpleNamespace(payment_provider=SimulatedPaymentProvider(outage_attempts=outage),
                           carrier=SimulatedCarrier())


def database_url(settings: Settings, instance_path: str) -> str:
    if settings.database_url:
        return settings.database_url
    Path(instance_path).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(instance_path) / 'orderflow.db'}"


ADMIN_TOKEN_FILE = "admin_token"


def admin_token(settings: Settings, instance_path: str) -> str | None:
    if settings.admin_token:
        return settings.admin_token
    stored = Path(instance_path) / ADMIN_TOKEN_FILE
    return stored.read_text().strip() if stored.exists() else None


SECRET_KEY_FILE = "secret_key"


def secret_key(settings: Settings, instance_path: str) -> str:
    """``ORDERFLOW_SECRET_KEY``, or a random key kept in the instance folder, made by the first
    process that needs it (written aside, then linked into place, so that two workers starting
    at once still agree on one key)."""
    if settings.secret_key:
        return settings.secret_key
    stored = Path(instance_path) / SECRET_KEY_FILE
    if not stored.exists():
        stored.parent.mkdir(parents=True, exist_ok=True)
        draft = stored.with_name(f".{SECRET_KEY_FILE}.{secrets.token_hex(8)}")
        draft.write_text(secrets.token_hex(32) + "\n")
        draft.chmod(0o600)
        with contextlib.suppress(FileExistsError):
            os.link(draft, stored)
        draft.unlink()
    return stored.read_text().strip()
