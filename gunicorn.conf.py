"""Gunicorn settings for `make run` and the container. Background work (the dispatcher and the
scheduler's tick) starts in each worker after the fork, never at import time. HOST, PORT,
WORKERS and THREADS are checked here, and the ORDERFLOW_* settings before any worker starts, so
that a bad value stops the server with one line naming it instead of a worker boot loop.

Metrics: prometheus_client's multiprocess mode. PROMETHEUS_MULTIPROC_DIR must be set before a
worker imports the app; when it is not set, each server start makes a fresh folder for it here
(removed at exit); when it is, the folder is emptied at start. A worker that exits is marked
dead. Logs: ORDERFLOW_LOG_FORMAT=json also makes gunicorn's own error log JSON; the app writes
one line per request, so gunicorn's access log is off unless ORDERFLOW_ACCESS_LOG=1."""

import glob as _glob
import os as _os
import shutil as _shutil
import sys as _sys
import tempfile as _tempfile


def _whole(name: str, default: str, low: int, high: int) -> int:
    raw = _os.environ.get(name, default).strip()
    if not raw.isdigit() or not low <= int(raw) <= high:
        _sys.exit(f"orderflow: {name}={raw!r} is not valid; expected a whole number from "
                  f"{low} to {high}")
    return int(raw)


bind = f"{_os.environ.get('HOST', '127.0.0.1')}:{_whole('PORT', '5000', 1, 65535)}"
workers = _whole("WORKERS", "1", 1, 64)
threads = _whole("THREADS", "4", 1, 256)
# Waitress inside each gunicorn worker reads whole requests before a thread takes them, so slow
# or silent clients cannot take the threads (app/http/server.py, docs/adr/0023). Each worker holds
# at most CONNECTIONS open connections and closes one silent for IDLE_TIMEOUT seconds.
worker_class = "app.http.server.WaitressWorker"
worker_connections = _whole("CONNECTIONS", "200", 8, 10000)
keepalive = _whole("IDLE_TIMEOUT", "10", 1, 3600)
accesslog = "-" if _os.environ.get("ORDERFLOW_ACCESS_LOG", "0") == "1" else None
# After SIGTERM a worker finishes its requests, then stops the dispatcher (at most
# app.bus.dispatcher.STOP_TIMEOUT_SECONDS); all inside 8 s, before podman's or docker's default
# stop timeout (10 s) would kill the container.
graceful_timeout = 8
control_socket_disable = True  # two servers on one machine must not share ~/.gunicorn

_made_metrics_folder = None
if not _os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _made_metrics_folder = _tempfile.mkdtemp(prefix="orderflow-metrics-")
    _os.environ["PROMETHEUS_MULTIPROC_DIR"] = _made_metrics_folder

if _os.environ.get("ORDERFLOW_LOG_FORMAT", "").strip() == "json":
    from app.telemetry.logs import gunicorn_logconfig as _gunicorn_logconfig

    logconfig_dict = _gunicorn_logconfig("json")


def on_starting(server):  # type: ignore[no-untyped-def]
    """Settings are checked before any worker starts; counts of an earlier run must not be
    added to this one's."""
    from app.config import ConfigError, from_environment

    try:
        from_environment()
    except ConfigError as error:
        _sys.exit(f"orderflow: {error}")
    folder = _os.environ["PROMETHEUS_MULTIPROC_DIR"]
    _os.makedirs(folder, exist_ok=True)
    for stale in _glob.glob(_os.path.join(folder, "*.db")):
        _os.remove(stale)


def when_ready(server):  # type: ignore[no-untyped-def]
    """Said once the sockets listen: not before, and not at all when the port is taken."""
    for listener in server.LISTENERS:
        server.log.info("orderflow serving on %s  (dashboard: /, log in with the admin token; "
                        "API: /api/orders, spec: /api/openapi.json)", listener)


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    worker.wsgi.extensions["orderflow"].start()


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    runtime = getattr(worker, "wsgi", None)
    if runtime is not None and hasattr(runtime, "extensions"):
        runtime.extensions["orderflow"].close()


def child_exit(server, worker):  # type: ignore[no-untyped-def]
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):  # type: ignore[no-untyped-def]
    if _made_metrics_folder:
        _shutil.rmtree(_made_metrics_folder, ignore_errors=True)
