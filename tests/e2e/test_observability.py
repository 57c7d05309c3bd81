"""What an operator watches: /metrics (Prometheus text, behind a token), one log line per
request and per delivery that carries the flow id and the trace id, and one trace from the
HTTP request through every delivery of an order, in every style."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from app.telemetry import logs
from tests.conftest import ADMIN_HEADERS, STYLES
from tests.shop import HOME

ORDER = {"customer": {"id": "c-1", "name": "Ada Lovelace", "address": HOME},
         "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_ok"}}


def place(app: Flask, style: str, headers: dict[str, str] | None = None) -> tuple[str, Any]:
    response = app.test_client().post("/api/orders", json={**ORDER, "style": style},
                                      headers=headers or {})
    assert response.status_code == 202, response.get_json()
    return response.get_json()["id"], response


def timeline(app: Flask, order_id: str) -> list[dict[str, Any]]:
    return app.test_client().get(f"/api/orders/{order_id}/timeline").get_json()["messages"]


def scrape(app: Flask, headers: dict[str, str] = ADMIN_HEADERS) -> dict[tuple, float]:
    response = app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=0.0.4")
    return samples(response.get_data(as_text=True))


def samples(text: str) -> dict[tuple, float]:
    """{(sample name, sorted labels...): value}"""
    return {(sample.name, *sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- metrics ------------------------------------------------------------------------------------
def test_metrics_need_the_metrics_or_admin_token(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-it"})

    assert missing.status_code == 401 and missing.get_json()["code"] == "unauthorized"
    assert wrong.status_code == 403 and wrong.get_json()["code"] == "forbidden"
    assert client.get("/metrics", headers=ADMIN_HEADERS).status_code == 200


def test_a_metrics_token_of_its_own_replaces_the_admin_token(
        make_app: Callable[..., Flask]) -> None:
    client = make_app(metrics_token="scraper-token-0123456789").test_client()

    assert client.get("/metrics", headers=ADMIN_HEADERS).status_code == 403
    assert client.get("/metrics", headers={
        "Authorization": "Bearer scraper-token-0123456789"}).status_code == 200


@pytest.mark.parametrize("style", STYLES)
def test_the_series_after_an_order_is_delivered(make_app: Callable[..., Flask],
                                                style: str) -> None:
    app = make_app()
    placed = "orderflow.orders.OrderPlaced"
    before = {"placed": counted("orderflow_messages_published_total", type=placed,
                                kind="event", style=style),
              "posts": counted("orderflow_http_requests_total", method="POST",
                               route="/api/orders", status="202")}

    order_id, _ = place(app, style)
    app.extensions["orderflow"].bus.settle()
    messages = timeline(app, order_id)
    seen = scrape(app)

    assert seen[("orderflow_messages_published_total", ("kind", "event"), ("style", style),
                 ("type", placed))] == before["placed"] + 1
    assert seen[("orderflow_http_requests_total", ("method", "POST"),
                 ("route", "/api/orders"), ("status", "202"))] == before["posts"] + 1
    assert ("orderflow_http_request_duration_seconds_count", ("method", "GET"),
            ("route", "/api/orders/<order_id>/timeline")) in seen
    receivers = {d["receiver"] for m in messages for d in m["deliveries"]}
    for receiver in receivers:
        assert seen[("orderflow_deliveries_total", ("outcome", "done"),
                     ("receiver", receiver))] >= 1
        assert seen[("orderflow_delivery_duration_seconds_count", ("receiver", receiver))] >= 1
    assert seen[("orderflow_orders", ("status", "delivered"), ("style", style))] == 1
    for gauge in ("orderflow_outbox_pending_messages", "orderflow_dead_letter_messages",
                  "orderflow_deadlines_due", "orderflow_outbox_oldest_pending_age_seconds"):
        assert seen[(gauge,)] == 0, gauge
    assert seen[("orderflow_database_up",)] == 1
    assert not any("order_id" in dict(key[1:]) or order_id in str(key) for key in seen)


def test_a_rolled_back_publication_is_not_counted(make_app: Callable[..., Flask]) -> None:
    from app.modules.orders.contracts import OrderCancelled

    bus = make_app().extensions["orderflow"].bus
    labels = {"type": OrderCancelled.type_name(), "kind": "event", "style": "hybrid"}
    before = counted("orderflow_messages_published_total", **labels)
    with bus.unit_of_work() as uow:
        uow.publish(OrderCancelled(order_id="o-rolled-back", reason="test"))
        uow.rollback()

    assert counted("orderflow_messages_published_total", **labels) == before


def test_the_backlog_gauges_count_waiting_and_parked_deliveries(
        make_app: Callable[..., Flask], clock: Any) -> None:
    nobody_delivers = make_app(dispatch="background")  # never started
    place(nobody_delivers, "hybrid")
    clock.advance("PT90S")

    seen = scrape(nobody_delivers)

    assert seen[("orderflow_outbox_pending_messages",)] >= 1
    assert seen[("orderflow_outbox_oldest_pending_age_seconds",)] == 90
    assert seen[("orderflow_dead_letter_messages",)] == 0


# --- traces -------------------------------------------------------------------------------------
@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter


def by_kind(finished: tuple[ReadableSpan, ...], kind: SpanKind) -> list[ReadableSpan]:
    return [span for span in finished if span.kind == kind]


@pytest.mark.parametrize("style", STYLES)
def test_one_trace_runs_from_the_request_through_every_delivery(
        make_app: Callable[..., Flask], spans: Any, style: str) -> None:
    provider, exporter = spans
    app = make_app(tracer_provider=provider)
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    order_id, _ = place(app, style, {"traceparent": incoming})
    app.extensions["orderflow"].bus.settle()
    messages = timeline(app, order_id)
    finished = exporter.get_finished_spans()

    (server,) = [s for s in by_kind(finished, SpanKind.SERVER) if s.name == "POST /api/orders"]
    trace_id = server.context.trace_id
    assert f"{trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"  # it continued the caller's
    publish = by_kind(finished, SpanKind.PRODUCER)
    process = by_kind(finished, SpanKind.CONSUMER)
    flow_spans = [s for s in publish + process if s.attributes["orderflow.flow_id"] == order_id]
    assert {s.context.trace_id for s in flow_spans} == {trace_id}
    assert len([s for s in publish if s.attributes["orderflow.flow_id"] == order_id]) == \
        len(messages)
    deliveries = sum(len(m["deliveries"]) for m in messages)
    assert len([s for s in process if s.attributes["orderflow.flow_id"] == order_id]) >= \
        deliveries
    publish_ids = {s.context.span_id for s in publish}
    assert all(s.parent.span_id in publish_ids for s in process)
    first = messages[0]["event"]
    (placed_span,) = [s for s in publish if s.attributes["messaging.message.id"] == first["id"]]
    assert placed_span.name == f"publish {first['type']}"
    assert dict(placed_span.attributes) == {
        "messaging.system": "orderflow", "messaging.operation.type": "send",
        "messaging.operation.name": "publish", "messaging.destination.name": first["type"],
        "messaging.message.id": first["id"], "orderflow.flow_id": order_id}
    assert first["traceparent"] == (f"00-{trace_id:032x}-"
                                    f"{placed_span.context.span_id:016x}-01")
    assert all(s.name.startswith("process orderflow.") and
               s.attributes["messaging.operation.type"] == "process" for s in process)


# --- logs ---------------------------------------------------------------------------------------
@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    level, orderflow_level = root.level, logging.getLogger("orderflow").level
    stream = io.StringIO()
    handler = logs.configure("json", stream)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
    logging.getLogger("orderflow").setLevel(orderflow_level)


@pytest.mark.parametrize("style", STYLES)
def test_json_logs_of_one_order_carry_its_flow_id_and_trace_id(
        make_app: Callable[..., Flask], json_lines: io.StringIO, style: str) -> None:
    app = make_app()

    order_id, response = place(app, style, {"X-Request-ID": "req-42"})
    app.extensions["orderflow"].bus.settle()
    messages = timeline(app, order_id)
    lines = [json.loads(line) for line in json_lines.getvalue().splitlines()]

    assert response.headers["X-Request-ID"] == "req-42"
    (request,) = [line for line in lines if line["logger"] == "orderflow.http"
                  and line["method"] == "POST"]
    assert {key: request[key] for key in ("request_id", "route", "status")} == {
        "request_id": "req-42", "route": "/api/orders", "status": 202}
    assert request["duration_ms"] > 0 and len(request["trace_id"]) == 32
    deliveries = [line for line in lines if line["logger"] == "orderflow.delivery"]
    assert len(deliveries) == sum(len(m["deliveries"]) for m in messages)
    assert {(line["flow_id"], line["trace_id"]) for line in deliveries} == {
        (order_id, request["trace_id"])}
    last, delivered = deliveries[-1], [m for m in messages if m["deliveries"]]
    assert last["message_type"] == delivered[-1]["event"]["type"] and last["outcome"] == "done"
    assert {"message_id", "receiver", "attempt", "duration_ms", "span_id", "time",
            "level"} <= set(last)


@pytest.mark.parametrize("given", ["", "x" * 129, "tab\there", "ünïcode", " padded"])
def test_an_unusable_request_id_is_replaced(make_app: Callable[..., Flask], given: str) -> None:
    response = make_app().test_client().get("/healthz", headers={"X-Request-ID": given})

    assert response.headers["X-Request-ID"] != given
    assert len(response.headers["X-Request-ID"]) == 32


@pytest.mark.parametrize("style", STYLES)
def test_a_deadline_fired_weeks_later_continues_the_orders_trace(
        make_app: Callable[..., Flask], spans: Any, clock: Any, style: str) -> None:
    """A VIP's invoice falls due after 30 days: a deadline's message, published by the tick in
    no request, still belongs to the trace of the order."""
    provider, exporter = spans
    app = make_app(tracer_provider=provider)
    response = app.test_client().post("/api/orders", json={
        **ORDER, "customer": {**ORDER["customer"], "vip": True},
        "items": [{"sku": "sku-2", "quantity": 1}], "style": style})
    order_id = response.get_json()["id"]
    bus = app.extensions["orderflow"].bus
    bus.settle()
    exporter.clear()

    clock.advance("P31D")
    bus.settle()
    messages = timeline(app, order_id)
    finished = exporter.get_finished_spans()

    due = [m["event"] for m in messages if m["event"]["type"].endswith(".InvoiceDue")]
    assert len(due) == 1
    (published,) = [s for s in by_kind(finished, SpanKind.PRODUCER)
                    if s.attributes["messaging.message.id"] == due[0]["id"]]
    first_traceparent = messages[0]["event"]["traceparent"]
    assert f"{published.context.trace_id:032x}" == first_traceparent.split("-")[1]
    processed = [s for s in by_kind(finished, SpanKind.CONSUMER)
                 if s.attributes["orderflow.flow_id"] == order_id]
    assert processed and {s.context.trace_id for s in processed} == {published.context.trace_id}


def test_invented_methods_share_one_series(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    before = counted("orderflow_http_requests_total", method="_OTHER", route="(unmatched)",
                     status="404")
    for invented in ("BREW", "STEEP", "POUR"):
        client.open("/nowhere-at-all", method=invented)
    methods = {sample.labels["method"] for family in REGISTRY.collect()
               if family.name == "orderflow_http_requests" for sample in family.samples}
    assert not methods & {"BREW", "STEEP", "POUR"}
    assert counted("orderflow_http_requests_total", method="_OTHER", route="(unmatched)",
                   status="404") - before == 3
