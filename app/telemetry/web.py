"""Per HTTP request: a request id (X-Request-ID when it is sane, else a new one; always echoed
back), a SERVER span continuing an incoming ``traceparent``, one log line and two metrics.
The route is the URL rule (``/api/orders/<order_id>``), never the raw path, so the metrics'
labels stay few."""

from __future__ import annotations

import logging
import time
import uuid

from flask import Flask, Response, g, request
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from app.telemetry import metrics
from app.telemetry.tracing import Tracing, context_of

request_log = logging.getLogger("orderflow.http")
REQUEST_ID_HEADER = "X-Request-ID"
LONGEST_REQUEST_ID = 128
UNMATCHED = "(unmatched)"  # the route of a request no URL rule matched (a 404)


def request_id(given: str | None) -> str:
    """The caller's id when it is printable ASCII of at most 128 characters, else a new one."""
    if given and len(given) <= LONGEST_REQUEST_ID and given.isascii() and given.isprintable() \
            and given.strip() == given:
        return given
    return uuid.uuid4().hex


def route() -> str:
    return request.url_rule.rule if request.url_rule is not None else UNMATCHED


def register(app: Flask, tracing: Tracing) -> None:
    """Hooks that run before every other one and after everything else."""

    def begin() -> None:
        g.request_started = time.perf_counter()
        g.request_id = request_id(request.headers.get(REQUEST_ID_HEADER))
        parent = context_of(request.headers.get("traceparent"))
        span = tracing.tracer.start_span(
            f"{request.method} {route()}", context=parent, kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "http.route": route(),
                        "url.path": request.path, "orderflow.request_id": g.request_id})
        g.request_span = span
        g.request_context = otel_context.attach(trace.set_span_in_context(span, parent))

    def finish(response: Response) -> Response:
        started = g.get("request_started")
        if started is None:
            return response
        response.headers[REQUEST_ID_HEADER] = g.request_id
        seconds = time.perf_counter() - started
        metrics.observe_request(request.method, route(), response.status_code, seconds)
        span = g.request_span
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500:
            span.set_status(Status(StatusCode.ERROR))
        if request_log.isEnabledFor(logging.INFO):
            request_log.info("%s %s %s (%.1f ms)", request.method, request.path,
                             response.status_code, seconds * 1000,
                             extra={"method": request.method, "route": route(),
                                    "path": request.path, "status": response.status_code,
                                    "duration_ms": round(seconds * 1000, 3)})
        return response

    def end(error: BaseException | None) -> None:
        span = g.pop("request_span", None)
        token = g.pop("request_context", None)
        if span is not None:
            span.end()
        if token is not None:
            otel_context.detach(token)

    app.before_request_funcs.setdefault(None, []).insert(0, begin)
    app.after_request(finish)  # after_request functions run last-registered first
    app.teardown_request(end)
