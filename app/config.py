"""Settings from ``ORDERFLOW_*`` environment variables, parsed and validated once at start-up;
every one is described in docs/operations.md. A bad value is a ``ConfigError`` whose one-line
message names the variable."""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from limits import parse_many
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.clock import format_duration, parse_duration

STYLES = ("choreography", "orchestration", "hybrid")
DISPATCH_MODES = ("background", "inline")
FLOWS = ("sequential", "parallel")
LONGEST_TERM = timedelta(days=3660)
CLOCKS = ("system", "manual")
NEVER = "never"  # ORDERFLOW_RETAIN_FINISHED=never: keep every finished flow's log for ever
SHORTEST_RETENTION = timedelta(hours=1)
LOG_FORMATS = ("text", "json")
IDEMPOTENCY_TTL_RANGE = (timedelta(minutes=1), timedelta(days=30))
WEBHOOK_TIMEOUT_RANGE = (timedelta(seconds=0.1), timedelta(minutes=1))
ADMIN_TOKEN_MIN_LENGTH = 16
OFF = "off"  # ORDERFLOW_RATE_LIMIT_*=off: no such limit
YES, NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class ConfigError(ValueError):
    """A setting has a value we cannot run with; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    style: str = "hybrid"
    database_url: str | None = None  # None: a SQLite file under the instance folder
    dispatch: str = "background"
    admin_token: str | None = None
    secret_key: str | None = None  # signs the dashboard's session cookie; None: instance file
    retry_base: timedelta = timedelta(seconds=1)
    retry_factor: float = 2.0
    retry_max_attempts: int = 5
    lease: timedelta = timedelta(seconds=30)
    call_timeout: timedelta = timedelta(seconds=10)  # a call to the provider or the carrier
    webhook_timeout: timedelta = timedelta(seconds=5)  # one POST to a registered webhook URL
    slow_token_latency: timedelta = timedelta(seconds=30)  # the sandbox provider's tok_slow
    dispatch_threads: int = 1
    max_body_bytes: int = 64 * 1024
    flow: str = "sequential"
    price_hold: timedelta = timedelta(days=7)
    invoice_term: timedelta = timedelta(days=30)
    clock: str = "system"
    stuck_after: timedelta = timedelta(minutes=30)  # an unfinished order this silent is stuck
    data_dir: str | None = None  # the SQLite file, admin token, secret key; None: instance folder
    # a finished flow's message log is pruned when its last message is this old; None: never
    retain_finished: timedelta | None = timedelta(days=90)
    log_format: str = "text"  # one line per request and per delivery: text, or JSON
    # /readyz fails when a delivery the dispatcher could take has waited longer than this
    ready_max_backlog_age: timedelta = timedelta(minutes=5)
    metrics_token: str | None = None  # Bearer token of GET /metrics; None: the admin token
    idempotency_ttl: timedelta = timedelta(days=1)  # how long an Idempotency-Key is remembered
    # per client address, per process (app.http.limits); "off" turns one off
    rate_limit_login: str = "10 per minute"  # failed credentials: a wrong login or token
    rate_limit_admin: str = "20 per second"  # the admin API's writes
    rate_limit_intake: str = "50 per second"  # POST /api/orders
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto count
    cookie_secure: bool = False  # the session cookie only over HTTPS: on behind TLS
    # start-up refuses when the message log's newest message is further ahead of the clock
    clock_tolerance: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        _require(self.style in STYLES, "ORDERFLOW_STYLE", self.style, " | ".join(STYLES))
        _require(self.dispatch in DISPATCH_MODES, "ORDERFLOW_DISPATCH", self.dispatch,
                 " | ".join(DISPATCH_MODES))
        _require(1 <= self.retry_max_attempts <= 1000, "ORDERFLOW_RETRY_MAX_ATTEMPTS",
                 self.retry_max_attempts, "a whole number from 1 to 1000")
        _require(math.isfinite(self.retry_factor) and 1 <= self.retry_factor <= 100,
                 "ORDERFLOW_RETRY_FACTOR", self.retry_factor, "a number from 1 to 100")
        _require(timedelta(0) < self.retry_base <= timedelta(days=1), "ORDERFLOW_RETRY_BASE",
                 self.retry_base, "a duration above zero and at most P1D, such as PT1S")
        _require(1 <= self.dispatch_threads <= 64, "ORDERFLOW_DISPATCH_THREADS",
                 self.dispatch_threads, "a whole number from 1 to 64")
        _require(timedelta(seconds=1) <= self.lease <= timedelta(days=1), "ORDERFLOW_LEASE",
                 self.lease, "a duration from PT1S to P1D")
        _require(timedelta(seconds=1) <= self.call_timeout <= timedelta(hours=1),
                 "ORDERFLOW_CALL_TIMEOUT", self.call_timeout, "a duration from PT1S to PT1H")
        _require(WEBHOOK_TIMEOUT_RANGE[0] <= self.webhook_timeout <= WEBHOOK_TIMEOUT_RANGE[1],
                 "ORDERFLOW_WEBHOOK_TIMEOUT", self.webhook_timeout,
                 "a duration from PT0.1S to PT1M, such as PT5S")
        _require(timedelta(0) <= self.slow_token_latency <= timedelta(hours=1),
                 "ORDERFLOW_SLOW_TOKEN_LATENCY", self.slow_token_latency,
                 "a duration from PT0S to PT1H")
        _require(self.flow in FLOWS, "ORDERFLOW_FLOW", self.flow, " | ".join(FLOWS))
        _require(self.clock in CLOCKS, "ORDERFLOW_CLOCK", self.clock, " | ".join(CLOCKS))
        _require(timedelta(0) < self.price_hold <= LONGEST_TERM, "ORDERFLOW_PRICE_HOLD",
                 self.price_hold, "a positive duration of at most P3660D, such as P7D")
        _require(timedelta(0) < self.invoice_term <= LONGEST_TERM, "ORDERFLOW_INVOICE_TERM",
                 self.invoice_term, "a positive duration of at most P3660D, such as P30D")
        _require(timedelta(0) < self.stuck_after <= LONGEST_TERM, "ORDERFLOW_STUCK_AFTER",
                 self.stuck_after, "a duration above zero and at most P3660D")
        _require(self.retain_finished is None
                 or SHORTEST_RETENTION <= self.retain_finished <= LONGEST_TERM,
                 "ORDERFLOW_RETAIN_FINISHED", self.retain_finished,
                 "a duration of at least PT1H and at most P3660D, such as P90D, or never")
        _require(IDEMPOTENCY_TTL_RANGE[0] <= self.idempotency_ttl <= IDEMPOTENCY_TTL_RANGE[1],
                 "ORDERFLOW_IDEMPOTENCY_TTL", self.idempotency_ttl,
                 "a duration from PT1M to P30D, such as P1D")
        _require(self.secret_key is None or len(self.secret_key) >= 32, "ORDERFLOW_SECRET_KEY",
                 "(hidden)", "at least 32 random characters")
        _require(1024 <= self.max_body_bytes <= 64 * 1024 * 1024, "ORDERFLOW_MAX_BODY_BYTES",
                 self.max_body_bytes, "a whole number from 1024 to 67108864")
        _require(self.database_url is None or _is_database_url(self.database_url),
                 "ORDERFLOW_DATABASE_URL", mask_url(self.database_url or ""),
                 "an SQLAlchemy URL such as sqlite:///shop.db or "
                 "postgresql+psycopg://user:password@host/orderflow")
        _require(self.admin_token is None or len(self.admin_token) >= ADMIN_TOKEN_MIN_LENGTH,
                 "ORDERFLOW_ADMIN_TOKEN", "(hidden)", "at least 16 characters")
        _require(self.log_format in LOG_FORMATS, "ORDERFLOW_LOG_FORMAT", self.log_format,
                 " | ".join(LOG_FORMATS))
        _require(timedelta(seconds=1) <= self.ready_max_backlog_age <= LONGEST_TERM,
                 "ORDERFLOW_READY_MAX_BACKLOG_AGE", self.ready_max_backlog_age,
                 "a duration of at least PT1S and at most P3660D, such as PT5M")
        _require(self.metrics_token is None or len(self.metrics_token) >= 16,
                 "ORDERFLOW_METRICS_TOKEN", "(hidden)", "at least 16 characters")
        for name in ("login", "admin", "intake"):
            value = getattr(self, f"rate_limit_{name}")
            _require(is_rate_limit(value), f"ORDERFLOW_RATE_LIMIT_{name.upper()}", value,
                     "a rate such as '10 per minute' or '5/second;100/hour', or off")
        _require(timedelta(0) <= self.clock_tolerance <= timedelta(days=1),
                 "ORDERFLOW_CLOCK_TOLERANCE", self.clock_tolerance,
                 "a duration from PT0S to P1D, such as PT5M")
        _require(0 <= self.trusted_proxies <= 5, "ORDERFLOW_TRUSTED_PROXIES",
                 self.trusted_proxies, "a whole number from 0 (no proxy) to 5")

    def but(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def unlimited(self) -> Settings:
        """For the in-process tools (demo, simulate, fixture) that drive the app through its
        test client, far faster than any real client and from no address at all."""
        return replace(self, rate_limit_admin=OFF, rate_limit_intake=OFF)


def parse_retention(text: str) -> timedelta | None:
    """``never`` (keep every finished flow's log) or an ISO-8601 duration."""
    return None if text.strip().lower() == NEVER else parse_duration(text)


def is_rate_limit(text: str) -> bool:
    if text == OFF:
        return True
    try:
        return bool(parse_many(text))
    except ValueError:
        return False


def yes_or_no(text: str) -> bool:
    value = text.strip().lower()
    if value not in YES + NO:
        raise ValueError(f"{text!r} is not one of {', '.join(YES + NO)}")
    return value in YES


def _require(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        shown = format_duration(value) if isinstance(value, timedelta) else value
        raise ConfigError(f"{name}={shown!r} is not valid; expected {expected}")


def _is_database_url(url: str) -> bool:
    try:
        return make_url(url).get_backend_name() in ("sqlite", "postgresql")
    except (ArgumentError, ValueError):
        return False


def mask_url(url: str) -> str:
    """A database URL fit to print: its password replaced by ***."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return "(not a URL)"
    if "password" in parsed.query:  # libpq also takes it as ?password=
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True)


def finite_number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def whole_number(text: str) -> int:
    return int(text)  # refuses '1.5' and '1e3' with a ValueError


_PARSERS = {
    "style": ("ORDERFLOW_STYLE", str),
    "database_url": ("ORDERFLOW_DATABASE_URL", str),
    "dispatch": ("ORDERFLOW_DISPATCH", str),
    "admin_token": ("ORDERFLOW_ADMIN_TOKEN", str),
    "secret_key": ("ORDERFLOW_SECRET_KEY", str),
    "retry_base": ("ORDERFLOW_RETRY_BASE", parse_duration),
    "retry_factor": ("ORDERFLOW_RETRY_FACTOR", finite_number),
    "retry_max_attempts": ("ORDERFLOW_RETRY_MAX_ATTEMPTS", whole_number),
    "lease": ("ORDERFLOW_LEASE", parse_duration),
    "call_timeout": ("ORDERFLOW_CALL_TIMEOUT", parse_duration),
    "webhook_timeout": ("ORDERFLOW_WEBHOOK_TIMEOUT", parse_duration),
    "slow_token_latency": ("ORDERFLOW_SLOW_TOKEN_LATENCY", parse_duration),
    "dispatch_threads": ("ORDERFLOW_DISPATCH_THREADS", whole_number),
    "max_body_bytes": ("ORDERFLOW_MAX_BODY_BYTES", whole_number),
    "flow": ("ORDERFLOW_FLOW", str),
    "price_hold": ("ORDERFLOW_PRICE_HOLD", parse_duration),
    "invoice_term": ("ORDERFLOW_INVOICE_TERM", parse_duration),
    "clock": ("ORDERFLOW_CLOCK", str),
    "stuck_after": ("ORDERFLOW_STUCK_AFTER", parse_duration),
    "data_dir": ("ORDERFLOW_DATA_DIR", str),
    "retain_finished": ("ORDERFLOW_RETAIN_FINISHED", parse_retention),
    "log_format": ("ORDERFLOW_LOG_FORMAT", str),
    "ready_max_backlog_age": ("ORDERFLOW_READY_MAX_BACKLOG_AGE", parse_duration),
    "metrics_token": ("ORDERFLOW_METRICS_TOKEN", str),
    "idempotency_ttl": ("ORDERFLOW_IDEMPOTENCY_TTL", parse_duration),
    "rate_limit_login": ("ORDERFLOW_RATE_LIMIT_LOGIN", str.strip),
    "rate_limit_admin": ("ORDERFLOW_RATE_LIMIT_ADMIN", str.strip),
    "rate_limit_intake": ("ORDERFLOW_RATE_LIMIT_INTAKE", str.strip),
    "trusted_proxies": ("ORDERFLOW_TRUSTED_PROXIES", whole_number),
    "cookie_secure": ("ORDERFLOW_COOKIE_SECURE", yes_or_no),
    "clock_tolerance": ("ORDERFLOW_CLOCK_TOLERANCE", parse_duration),
}
SECRETS = ("admin_token", "secret_key", "metrics_token")
# ORDERFLOW_* variables that are read elsewhere (gunicorn.conf.py, the test suite), not settings
OTHER_VARIABLES = ("ORDERFLOW_ACCESS_LOG",)


def from_environment(environ: dict[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for attribute, (name, parse) in _PARSERS.items():
        raw = environ.get(name, "").strip()
        if not raw:
            continue
        try:
            values[attribute] = parse(raw)
        except ValueError as error:
            raise ConfigError(f"{name}={raw!r} is not valid: {error}") from error
    return Settings(**values)


def unknown_variables(environ: Mapping[str, str] | None = None) -> Iterator[str]:
    """A warning for each ``ORDERFLOW_*`` variable that no setting reads (a typo, most likely),
    naming the closest known one."""
    environ = os.environ if environ is None else environ
    known = [name for name, _ in _PARSERS.values()] + list(OTHER_VARIABLES)
    for name in sorted(environ):
        if name.startswith("ORDERFLOW_") and name not in known \
                and not name.startswith("ORDERFLOW_TEST_"):
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            yield f"{name} is not an orderflow setting and is ignored{hint}"


def check_data_dir(settings: Settings, default: str) -> Path:
    """The folder for the SQLite file and the instance secrets: made if missing, and it must
    be a folder this process can write to."""
    folder = Path(settings.data_dir or default)
    name = "ORDERFLOW_DATA_DIR" if settings.data_dir else "the instance folder"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(f"{name}={str(folder)!r} is not valid; cannot create it: "
                          f"{error.strerror}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{name}={str(folder)!r} is not valid; this process (uid "
                          f"{os.getuid()}) cannot write to it")
    return folder


def effective(settings: Settings, environ: Mapping[str, str] | None = None
              ) -> list[tuple[str, str, str]]:
    """(variable, value, where it came from) for every setting; secrets masked."""
    environ = os.environ if environ is None else environ
    rows = []
    for field in fields(Settings):
        name, _ = _PARSERS[field.name]
        source = "environment" if environ.get(name, "").strip() else "default"
        rows.append((name, _shown(field.name, getattr(settings, field.name)), source))
    return rows


def _shown(attribute: str, value: Any) -> str:
    if value is None:
        return "never" if attribute == "retain_finished" else "(unset)"
    if attribute in SECRETS:
        return f"(set, {len(value)} characters)"
    if attribute == "database_url":
        return mask_url(value)
    return format_duration(value) if isinstance(value, timedelta) else str(value)
