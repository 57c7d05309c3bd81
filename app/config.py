"""Settings from ``ORDERFLOW_*`` environment variables; every one is listed in the README."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from app.clock import parse_duration

STYLES = ("choreography", "orchestration", "hybrid")
DISPATCH_MODES = ("background", "inline")
FLOWS = ("sequential", "parallel")
LONGEST_TERM = timedelta(days=3660)
CLOCKS = ("system", "manual")
IDEMPOTENCY_TTL_RANGE = (timedelta(minutes=1), timedelta(days=30))


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
    dispatch_threads: int = 1
    max_body_bytes: int = 64 * 1024
    flow: str = "sequential"
    price_hold: timedelta = timedelta(days=7)
    invoice_term: timedelta = timedelta(days=30)
    clock: str = "system"
    stuck_after: timedelta = timedelta(minutes=30)  # an unfinished order this silent is stuck
    idempotency_ttl: timedelta = timedelta(days=1)  # how long an Idempotency-Key is remembered

    def __post_init__(self) -> None:
        _require(self.style in STYLES, "ORDERFLOW_STYLE", self.style, " | ".join(STYLES))
        _require(self.dispatch in DISPATCH_MODES, "ORDERFLOW_DISPATCH", self.dispatch,
                 " | ".join(DISPATCH_MODES))
        _require(self.retry_max_attempts >= 1, "ORDERFLOW_RETRY_MAX_ATTEMPTS",
                 self.retry_max_attempts, "a whole number of at least 1")
        _require(self.retry_factor >= 1, "ORDERFLOW_RETRY_FACTOR", self.retry_factor,
                 "a number of at least 1")
        _require(self.dispatch_threads >= 1, "ORDERFLOW_DISPATCH_THREADS",
                 self.dispatch_threads, "a whole number of at least 1")
        _require(self.lease >= timedelta(seconds=1), "ORDERFLOW_LEASE", self.lease,
                 "a duration of at least PT1S")
        _require(self.flow in FLOWS, "ORDERFLOW_FLOW", self.flow, " | ".join(FLOWS))
        _require(self.clock in CLOCKS, "ORDERFLOW_CLOCK", self.clock, " | ".join(CLOCKS))
        _require(timedelta(0) < self.price_hold <= LONGEST_TERM, "ORDERFLOW_PRICE_HOLD",
                 self.price_hold, "a positive duration of at most P3660D, such as P7D")
        _require(timedelta(0) < self.invoice_term <= LONGEST_TERM, "ORDERFLOW_INVOICE_TERM",
                 self.invoice_term, "a positive duration of at most P3660D, such as P30D")
        _require(timedelta(0) < self.stuck_after <= LONGEST_TERM, "ORDERFLOW_STUCK_AFTER",
                 self.stuck_after, "a duration above zero and at most P3660D")
        _require(IDEMPOTENCY_TTL_RANGE[0] <= self.idempotency_ttl <= IDEMPOTENCY_TTL_RANGE[1],
                 "ORDERFLOW_IDEMPOTENCY_TTL", self.idempotency_ttl,
                 "a duration from PT1M to P30D, such as P1D")
        _require(self.secret_key is None or len(self.secret_key) >= 32, "ORDERFLOW_SECRET_KEY",
                 "(hidden)", "at least 32 random characters")
        _require(self.max_body_bytes >= 1024, "ORDERFLOW_MAX_BODY_BYTES", self.max_body_bytes,
                 "a whole number of at least 1024")

    def but(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _require(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{name}={value!r} is not valid; expected {expected}")


_PARSERS = {
    "style": ("ORDERFLOW_STYLE", str),
    "database_url": ("ORDERFLOW_DATABASE_URL", str),
    "dispatch": ("ORDERFLOW_DISPATCH", str),
    "admin_token": ("ORDERFLOW_ADMIN_TOKEN", str),
    "secret_key": ("ORDERFLOW_SECRET_KEY", str),
    "retry_base": ("ORDERFLOW_RETRY_BASE", parse_duration),
    "retry_factor": ("ORDERFLOW_RETRY_FACTOR", float),
    "retry_max_attempts": ("ORDERFLOW_RETRY_MAX_ATTEMPTS", int),
    "lease": ("ORDERFLOW_LEASE", parse_duration),
    "dispatch_threads": ("ORDERFLOW_DISPATCH_THREADS", int),
    "max_body_bytes": ("ORDERFLOW_MAX_BODY_BYTES", int),
    "flow": ("ORDERFLOW_FLOW", str),
    "price_hold": ("ORDERFLOW_PRICE_HOLD", parse_duration),
    "invoice_term": ("ORDERFLOW_INVOICE_TERM", parse_duration),
    "clock": ("ORDERFLOW_CLOCK", str),
    "stuck_after": ("ORDERFLOW_STUCK_AFTER", parse_duration),
    "idempotency_ttl": ("ORDERFLOW_IDEMPOTENCY_TTL", parse_duration),
}


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
