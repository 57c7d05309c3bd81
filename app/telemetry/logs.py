"""Log lines: text for a terminal, JSON for a container (ORDERFLOW_LOG_FORMAT). One line per
HTTP request (logger ``orderflow.http``) and per delivery (``orderflow.delivery``); every line
written inside a request or a span carries its request_id, trace_id and span_id."""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

from flask import g, has_request_context
from pythonjsonlogger.json import JsonFormatter

from app.telemetry.tracing import current_ids

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(message)s"
_MARK = "_orderflow_handler"


class ContextFilter(logging.Filter):
    """Adds the request id and the current trace and span ids to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id") and has_request_context():
            record.request_id = g.get("request_id")
        if not hasattr(record, "trace_id"):
            ids = current_ids()
            if ids is not None:
                record.trace_id, record.span_id = ids
        return True


class TextFormatter(logging.Formatter):
    """The message, then the ids that matter for following an order."""

    KEYS = ("request_id", "flow_id", "trace_id")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(f"{key}={getattr(record, key)}" for key in self.KEYS
                       if getattr(record, key, None))
        return f"{line} [{ids}]" if ids else line


def formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter(JSON_FIELDS, timestamp="time",  # ISO 8601, UTC
                             rename_fields={"levelname": "level", "name": "logger"})
    return TextFormatter(TEXT)


def configure(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """Send the root logger's records (WARNING and up; orderflow's own from INFO) to one
    handler on ``stream`` (stderr) in the given format. Idempotent: a second call replaces the
    handler a first one installed."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _MARK, True)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.WARNING:
        root.setLevel(logging.WARNING)
    logging.getLogger("orderflow").setLevel(logging.INFO)
    return handler


def gunicorn_logconfig(log_format: str) -> dict[str, Any] | None:
    """gunicorn's own error log in the same format (None: gunicorn's default)."""
    if log_format != "json":
        return None
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.telemetry.logs.formatter", "log_format": "json"}},
        "handlers": {"error": {"class": "logging.StreamHandler", "formatter": "json",
                               "stream": "ext://sys.stderr"},
                     "access": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stdout"}},
        "root": {"level": "WARNING", "handlers": []},  # the app's own handler comes later
        "loggers": {"gunicorn.error": {"level": "INFO", "handlers": ["error"],
                                       "propagate": False},
                    "gunicorn.access": {"level": "INFO", "handlers": ["access"],
                                        "propagate": False}},
    }
