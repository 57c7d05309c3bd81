"""The adapter that POSTs webhooks: real HTTP, called outside every transaction (ADR 0020).

It goes only to the URL it is handed (the stored subscription's): it follows no redirect (a
3xx is an answer like any other non-2xx) and uses no proxy from the environment. Each call is
bounded by ``call_timeout`` as a whole (``app.bus.effects``) and each socket operation by the
same time, so a receiver that never answers holds no thread for long."""

from __future__ import annotations

import http.client
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol
from urllib.parse import SplitResult, urlsplit

from app.modules.webhooks import signing

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"  # CloudEvents, structured mode
USER_AGENT = "orderflow-webhooks/1"
MAX_ANSWER_BYTES = 64 * 1024  # what a receiver says is read (and dropped) up to this much


@dataclass(frozen=True)
class Answer:
    status: int

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class WebhookSender(Protocol):
    call_timeout: timedelta

    def post(self, url: str, body: bytes, *, secret: str, idempotency_key: str) -> Answer: ...


class HttpWebhookSender:
    """``idempotency_key`` is the ``webhook-id``: the same on every attempt of one event, so
    the receiver can drop repeats. The ``webhook-timestamp`` is the wall clock of the attempt,
    not the app's clock: a receiver compares it with its own to refuse replays."""

    def __init__(self, call_timeout: timedelta, wall_clock: Callable[[], float] = time.time
                 ) -> None:
        self.call_timeout = call_timeout
        self._wall_clock = wall_clock

    def post(self, url: str, body: bytes, *, secret: str, idempotency_key: str) -> Answer:
        parts = urlsplit(url)
        headers = {"Content-Type": CONTENT_TYPE, "User-Agent": USER_AGENT,
                   **signing.headers(secret, idempotency_key, int(self._wall_clock()), body)}
        connection = self._connect(parts)
        try:
            connection.request("POST", _target(parts), body=body, headers=headers)
            response = connection.getresponse()
            response.read(MAX_ANSWER_BYTES)
            return Answer(response.status)
        finally:
            connection.close()

    def _connect(self, parts: SplitResult) -> http.client.HTTPConnection:
        seconds = self.call_timeout.total_seconds()
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.hostname or "", parts.port, timeout=seconds,
                                               context=ssl.create_default_context())
        return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=seconds)


def _target(parts: SplitResult) -> str:
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
