"""Gunicorn settings for `make run` and the container. Background work (the dispatcher and the
scheduler's tick) starts in each worker after the fork, never at import time. HOST, PORT,
WORKERS and THREADS are checked here, and the ORDERFLOW_* settings before any worker starts, so
that a bad value stops the server with one line naming it instead of a worker boot loop."""

import os
import sys


def _whole(name: str, default: str, low: int, high: int) -> int:
    raw = os.environ.get(name, default).strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        sys.exit(f"orderflow: {name}={raw!r} is not valid; expected a whole number from "
                 f"{low} to {high}")
    return int(raw)


bind = f"{os.environ.get('HOST', '127.0.0.1')}:{_whole('PORT', '5000', 1, 65535)}"
workers = _whole("WORKERS", "1", 1, 64)
threads = _whole("THREADS", "4", 1, 256)
accesslog = "-" if os.environ.get("ORDERFLOW_ACCESS_LOG", "1") == "1" else None
# After SIGTERM a worker finishes its requests, then stops the dispatcher (at most
# app.bus.dispatcher.STOP_TIMEOUT_SECONDS); all inside 8 s, before podman's or docker's default
# stop timeout (10 s) would kill the container.
graceful_timeout = 8
control_socket_disable = True  # two servers on one machine must not share ~/.gunicorn


def on_starting(server):  # type: ignore[no-untyped-def]
    from app.config import ConfigError, from_environment

    try:
        from_environment()
    except ConfigError as error:
        sys.exit(f"orderflow: {error}")


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    worker.wsgi.extensions["orderflow"].start()


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    runtime = getattr(worker, "wsgi", None)
    if runtime is not None and hasattr(runtime, "extensions"):
        runtime.extensions["orderflow"].close()
