"""The gunicorn worker that `make run` and the container use: gunicorn keeps the processes (fork,
hooks, heartbeats, SIGTERM), waitress serves HTTP inside each one. Waitress reads every request
whole (line, headers and body) in its event loop before a thread runs the app, so a client that
sends slowly, or nothing, holds a socket but never a thread. gunicorn's own threaded worker gives
a connection to a thread as soon as its first byte arrives (docs/adr/0023).

Bounds, from gunicorn.conf.py: ``threads`` app threads, ``worker_connections`` open connections
(beyond that the worker stops accepting until some close), ``keepalive`` seconds a connection
may stay silent before it is closed, wherever it is in a request."""

from __future__ import annotations

import os
import time
from typing import Any

from gunicorn.workers.base import Worker
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server

HEADER_LIMIT_BYTES = 64 * 1024
LOOP_SECONDS = 1.0  # how often the worker tells the arbiter it is alive


def waitress_settings(cfg: Any, max_body_bytes: int) -> dict[str, Any]:
    """Waitress refuses a body past twice the app's limit itself, so it never buffers more;
    below that the app's own JSON 413 answers."""
    idle = max(1, int(cfg.keepalive))
    return {"threads": cfg.threads, "connection_limit": cfg.worker_connections,
            "channel_timeout": idle, "cleanup_interval": max(1, idle // 2),
            "max_request_header_size": HEADER_LIMIT_BYTES,
            "max_request_body_size": 2 * max_body_bytes, "asyncore_use_poll": True,
            "ident": "orderflow", "expose_tracebacks": False}


class WaitressWorker(Worker):
    def run(self) -> None:
        channels: dict[int, Any] = {}
        limit = int(self.wsgi.config.get("MAX_CONTENT_LENGTH") or 1024 * 1024)
        server = create_server(self.wsgi, map=channels, sockets=[s.sock for s in self.sockets],
                               **waitress_settings(self.cfg, limit))
        while self.alive:
            self.notify()
            wasyncore.loop(timeout=LOOP_SECONDS, map=channels, use_poll=True, count=1)
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
        self._finish(channels, server)

    def _finish(self, channels: dict[int, Any], server: Any) -> None:
        """Stop accepting, let requests in progress answer (at most graceful_timeout), then
        close every connection and stop the threads."""
        for listener in _listeners(channels):
            listener.accepting = False
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while _busy(channels) and time.monotonic() < deadline:
            self.notify()
            wasyncore.loop(timeout=0.1, map=channels, use_poll=True, count=1)
        server.task_dispatcher.shutdown(timeout=1)
        wasyncore.close_all(channels)


def _listeners(channels: dict[int, Any]) -> list[BaseWSGIServer]:
    return [item for item in channels.values() if isinstance(item, BaseWSGIServer)]


def _busy(channels: dict[int, Any]) -> bool:
    """A connection with a request read but not yet answered, or an answer not yet sent."""
    return any(isinstance(item, HTTPChannel) and (item.requests or item.total_outbufs_len)
               for item in list(channels.values()))
