"""Gunicorn settings for `make run` and the container. Background work (the dispatcher and the
scheduler's tick) starts in each worker after the fork, never at import time."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}"
workers = int(os.environ.get("WORKERS", "1"))
threads = int(os.environ.get("THREADS", "4"))
accesslog = "-" if os.environ.get("ORDERFLOW_ACCESS_LOG", "1") == "1" else None
graceful_timeout = 10
control_socket_disable = True  # two servers on one machine must not share ~/.gunicorn


def post_worker_init(worker):  # type: ignore[no-untyped-def]
    worker.wsgi.extensions["orderflow"].start()


def worker_exit(server, worker):  # type: ignore[no-untyped-def]
    runtime = getattr(worker, "wsgi", None)
    if runtime is not None and hasattr(runtime, "extensions"):
        runtime.extensions["orderflow"].close()
