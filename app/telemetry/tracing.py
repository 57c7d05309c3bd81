"""OpenTelemetry traces, named per the messaging semantic conventions: a SERVER span per HTTP
request, a PRODUCER span ``publish <type>`` (operation type ``send``: the outbox is where a
message is sent) per logged message, a CONSUMER span ``process <type>`` per delivery. A
message carries the W3C ``traceparent`` of its publish span (bus_message.traceparent, the
CloudEvents distributed-tracing extension), and each delivery's span is its child, so one
trace runs from the request through every delivery of the order.

The provider is the app's own, never the global one (which a process can set only once): from
the standard OTEL_* variables, with the OTLP/HTTP exporter only when an endpoint is set; tests
pass one with an in-memory exporter."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NoOpTracerProvider, Span, SpanKind, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SYSTEM = "orderflow"
_PROPAGATOR = TraceContextTextMapPropagator()


def provider_from_environment(environ: Mapping[str, str] | None = None) -> TracerProvider:
    """OTEL_SDK_DISABLED=true: no spans at all. Otherwise an SDK provider (trace ids for the
    logs and the messages); it exports over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT or
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (the exporter reads the other OTEL_EXPORTER_OTLP_*
    variables itself). OTEL_SERVICE_NAME names the service (default orderflow)."""
    environ = os.environ if environ is None else environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return NoOpTracerProvider()
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider

    attributes = {}
    if environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = environ["OTEL_SERVICE_NAME"]
    elif "service.name=" not in environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes["service.name"] = SYSTEM
    exporting = bool(environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                     or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    # Runtime.close shuts it down; at exit too only when there is something to send
    provider = SdkTracerProvider(resource=Resource.create(attributes),
                                 shutdown_on_exit=exporting)
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        # a collector that hangs must not hold a stopping server past its 10 s (ADR 0019)
        timeout = environ.get("OTEL_EXPORTER_OTLP_TIMEOUT") or EXPORT_TIMEOUT_SECONDS
        provider.add_span_processor(BatchSpanProcessor(
            OTLPSpanExporter(timeout=float(timeout)),
            export_timeout_millis=int(float(timeout) * 1000)))
    return provider


EXPORT_TIMEOUT_SECONDS = 2  # unless OTEL_EXPORTER_OTLP_TIMEOUT says otherwise


def traceparent_of(span: Span) -> str | None:
    """The W3C traceparent header value of a span (None for a span that records nothing)."""
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def context_of(traceparent: str | None) -> otel_context.Context:
    """A context whose parent is the span named by ``traceparent``; an empty one (a new
    trace) without."""
    if not traceparent:
        return otel_context.Context()
    return _PROPAGATOR.extract({"traceparent": traceparent}, context=otel_context.Context())


def current_ids() -> tuple[str, str] | None:
    """(trace_id, span_id) of the current span, in hex, for the logs."""
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


class Tracing:
    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider or provider_from_environment()
        self.tracer = self.provider.get_tracer("orderflow")

    def published(self, *, type: str, message_id: str, flowid: str) -> str | None:
        """A PRODUCER span for one message logged in the current context; returns the
        traceparent the message carries."""
        span = self.tracer.start_span(
            f"publish {type}", kind=SpanKind.PRODUCER,
            attributes={"messaging.system": SYSTEM, "messaging.operation.type": "send",
                        "messaging.operation.name": "publish",
                        "messaging.destination.name": type,
                        "messaging.message.id": message_id, "orderflow.flow_id": flowid})
        span.end()
        return traceparent_of(span)

    @contextmanager
    def processing(self, *, type: str, message_id: str, flowid: str, receiver: str,
                   traceparent: str | None) -> Iterator[Span]:
        """The CONSUMER span of one delivery, child of the span that published the message."""
        with self.tracer.start_as_current_span(
                f"process {type}", context=context_of(traceparent), kind=SpanKind.CONSUMER,
                record_exception=False, set_status_on_exception=False,
                attributes={"messaging.system": SYSTEM, "messaging.operation.type": "process",
                            "messaging.operation.name": "process",
                            "messaging.destination.name": type,
                            "messaging.destination.subscription.name": receiver,
                            "messaging.message.id": message_id,
                            "orderflow.flow_id": flowid}) as span:
            yield span

    @contextmanager
    def continuing(self, traceparent: str | None) -> Iterator[None]:
        """Make the span named by ``traceparent`` the current parent (a deadline firing
        continues the trace of the message that set it)."""
        if not traceparent:
            yield
            return
        token = otel_context.attach(context_of(traceparent))
        try:
            yield
        finally:
            otel_context.detach(token)

    def shutdown(self) -> None:
        shutdown = getattr(self.provider, "shutdown", None)
        if shutdown is not None:
            shutdown()
