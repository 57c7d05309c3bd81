"""What the bus tells about its work: one object the kernel calls at three places (a message
published, a unit of work committed, a delivery attempted), which turns each into spans,
metrics and a log line. Kept cheap: the dispatcher calls it for every delivery."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry.trace import Status, StatusCode

from app.telemetry import metrics
from app.telemetry.tracing import Tracing

if TYPE_CHECKING:
    from app.bus.outbox import Claim

delivery_log = logging.getLogger("orderflow.delivery")
TROUBLE = ("failed", "parked", "lost", "unrecorded")


class Telemetry:
    def __init__(self, tracing: Tracing | None = None) -> None:
        self.tracing = tracing or Tracing()

    def published(self, *, type: str, message_id: str, flowid: str) -> str | None:
        """A message is being logged in this transaction: its traceparent."""
        return self.tracing.published(type=type, message_id=message_id, flowid=flowid)

    @staticmethod
    def committed(published: list[tuple[str, str, str]]) -> None:
        """A unit of work committed these (type, kind, style): count them now, not before."""
        metrics.observe_published(published)

    @contextmanager
    def delivering(self, claim: Claim) -> Iterator[Callable[[str], None]]:
        """Around one delivery attempt: its span; the caller records the outcome, which
        becomes the metrics and the log line (written inside the span, so it has its ids)."""
        envelope = claim.envelope
        started = time.perf_counter()
        with self.tracing.processing(type=envelope.type, message_id=envelope.id,
                                     flowid=envelope.flowid, receiver=claim.receiver,
                                     traceparent=envelope.traceparent) as span:

            def record(outcome: str) -> None:
                seconds = time.perf_counter() - started
                metrics.observe_delivery(claim.receiver, outcome, seconds)
                span.set_attribute("orderflow.outcome", outcome)
                if outcome in TROUBLE:
                    span.set_status(Status(StatusCode.ERROR, outcome))
                if delivery_log.isEnabledFor(logging.INFO):  # a failure also has its warning
                    delivery_log.info(
                        "%s %s -> %s: %s (%.1f ms)", envelope.short_type,
                        envelope.id, claim.receiver, outcome, seconds * 1000,
                        extra={"flow_id": envelope.flowid, "message_id": envelope.id,
                               "message_type": envelope.type, "receiver": claim.receiver,
                               "attempt": claim.attempts + 1, "outcome": outcome,
                               "duration_ms": round(seconds * 1000, 3)})

            yield record

    def shutdown(self) -> None:
        self.tracing.shutdown()
