"""Settings, durations and message values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from app.bus.messages import Envelope, message_class
from app.clock import ManualClock, parse_duration
from app.config import ConfigError, from_environment
from app.modules.orders.contracts import OrderCancelled
from app.modules.payment.contracts import RetrievePayment


def test_defaults_need_no_environment() -> None:
    settings = from_environment({})
    assert (settings.style, settings.dispatch, settings.database_url) == (
        "hybrid", "background", None)


def test_settings_are_read_from_orderflow_variables() -> None:
    settings = from_environment({"ORDERFLOW_STYLE": "choreography", "ORDERFLOW_DISPATCH": "inline",
                                 "ORDERFLOW_RETRY_BASE": "PT0.5S",
                                 "ORDERFLOW_RETRY_MAX_ATTEMPTS": "3"})
    assert settings.style == "choreography" and settings.dispatch == "inline"
    assert settings.retry_base == timedelta(seconds=0.5) and settings.retry_max_attempts == 3


@pytest.mark.parametrize(("name", "value"), [
    ("ORDERFLOW_STYLE", "ballet"), ("ORDERFLOW_DISPATCH", "carrier-pigeon"),
    ("ORDERFLOW_RETRY_BASE", "5 seconds"), ("ORDERFLOW_RETRY_MAX_ATTEMPTS", "0"),
    ("ORDERFLOW_RETRY_FACTOR", "many"), ("ORDERFLOW_FLOW", "sideways"),
    ("ORDERFLOW_CLOCK", "sundial"), ("ORDERFLOW_PRICE_HOLD", "PT0S"),
    ("ORDERFLOW_PRICE_HOLD", "P99999D"), ("ORDERFLOW_INVOICE_TERM", "P99999999999D"),
    ("ORDERFLOW_INVOICE_TERM", "thirty days"), ("ORDERFLOW_RETAIN_FINISHED", "PT59M"),
    ("ORDERFLOW_RETAIN_FINISHED", "P3661D"), ("ORDERFLOW_RETAIN_FINISHED", "forever"),
    ("ORDERFLOW_RETAIN_FINISHED", "P0D")])
def test_a_bad_setting_names_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        from_environment({name: value})


@pytest.mark.parametrize(("text", "expected"), [
    ("P7D", timedelta(days=7)), ("PT30S", timedelta(seconds=30)),
    ("P1DT2H", timedelta(days=1, hours=2)), ("PT0.25S", timedelta(milliseconds=250)),
    ("P2W", timedelta(weeks=2))])
def test_iso_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["7d", "P", "PT", "P1DT", "-P1D", ""])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_the_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock()
    start = clock.now()
    assert clock.now() == start
    assert clock.advance("P7D") - start == timedelta(days=7)


def test_the_manual_clock_refuses_to_go_back_or_past_the_year_9000() -> None:
    clock = ManualClock()
    with pytest.raises(ValueError, match="forward"):
        clock.advance(timedelta(seconds=-1))
    with pytest.raises(ValueError, match="P3660D"):
        clock.advance(timedelta(days=3661))
    assert clock.now() == ManualClock().now()
    late = ManualClock(datetime(8995, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="9000"):
        late.advance("P3000D")


def test_messages_are_immutable_values_named_after_their_owner() -> None:
    message = RetrievePayment(order_id="o1", amount_cents=100, method="card", token="tok_ok",
                              customer_id="c-1", customer_name="Ada")
    with pytest.raises(ValidationError):
        message.amount_cents = 5  # type: ignore[misc]
    assert RetrievePayment.type_name() == "orderflow.payment.RetrievePayment"
    assert (RetrievePayment.kind, OrderCancelled.kind) == ("command", "event")
    assert message_class("orderflow.orders.OrderCancelled") is OrderCancelled


def test_a_message_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        OrderCancelled(order_id="o1", reason="x", colour="red")  # type: ignore[call-arg]


def test_an_envelope_is_a_cloudevent_with_our_extensions() -> None:
    clock = ManualClock()
    envelope = Envelope(id="m1", type=OrderCancelled.type_name(), source="orders",
                        time=clock.now(), kind="event", flowid="o1", style="hybrid",
                        data={"order_id": "o1", "reason": "undeliverable"}, causationid="m0")
    event = envelope.to_cloudevent()
    assert event["specversion"] == "1.0" and event["datacontenttype"] == "application/json"
    assert {k: event[k] for k in ("flowid", "causationid", "style", "kind")} == {
        "flowid": "o1", "causationid": "m0", "style": "hybrid", "kind": "event"}
    assert envelope.message() == OrderCancelled(order_id="o1", reason="undeliverable")


def test_an_envelope_without_a_cause_or_a_trace_leaves_those_attributes_out() -> None:
    """CloudEvents attributes have no null: an unset optional attribute is absent."""
    envelope = Envelope(id="m1", type=OrderCancelled.type_name(), source="orders",
                        time=ManualClock().now(), kind="event", flowid="o1", style="hybrid",
                        data={"order_id": "o1", "reason": "undeliverable"})
    event = envelope.to_cloudevent()
    assert "causationid" not in event and "traceparent" not in event
    assert None not in event.values()


def test_messages_logged_before_the_long_running_flows_can_still_be_read() -> None:
    """Orders in flight across the upgrade: their logged payloads lack the new fields."""
    placed = message_class("orderflow.orders.OrderPlaced").model_validate({
        "order_id": "o1", "customer_id": "c", "customer_name": "Ada", "address": "x",
        "vip": False, "items": [{"sku": "sku-1", "quantity": 1, "unit_price_cents": 2490}],
        "total_cents": 2490, "payment_method": "card", "payment_token": "tok_ok"})
    assert (placed.flow, placed.pay_by) == ("sequential", None)
    retrieve = message_class("orderflow.payment.RetrievePayment").model_validate({
        "order_id": "o1", "amount_cents": 2490, "method": "card", "token": "tok_ok"})
    assert retrieve.pay_by is None


def test_retention_prunes_by_default_and_never_only_when_told() -> None:
    assert from_environment({}).retain_finished == timedelta(days=90)
    assert from_environment({"ORDERFLOW_RETAIN_FINISHED": "P30D"}).retain_finished == timedelta(
        days=30)
    assert from_environment({"ORDERFLOW_RETAIN_FINISHED": "never"}).retain_finished is None
    assert from_environment({"ORDERFLOW_RETAIN_FINISHED": " Never "}).retain_finished is None


def test_a_bad_retention_is_one_line_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as refused:
        from_environment({"ORDERFLOW_RETAIN_FINISHED": "PT5M"})
    message = str(refused.value)
    assert message.startswith("ORDERFLOW_RETAIN_FINISHED=") and "\n" not in message
    assert "never" in message
def test_spans_are_exported_only_when_an_otlp_endpoint_is_set() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import NoOpTracerProvider

    from app.telemetry.tracing import provider_from_environment

    quiet = provider_from_environment({})
    exporting = provider_from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",
                                           "OTEL_SERVICE_NAME": "shop-eu"})
    try:
        assert isinstance(quiet, TracerProvider)
        assert quiet._active_span_processor._span_processors == ()
        assert quiet.resource.attributes["service.name"] == "orderflow"
        (processor,) = exporting._active_span_processor._span_processors
        assert type(processor.span_exporter).__name__ == "OTLPSpanExporter"
        assert exporting.resource.attributes["service.name"] == "shop-eu"
    finally:
        exporting.shutdown()
    assert isinstance(provider_from_environment({"OTEL_SDK_DISABLED": "true"}),
                      NoOpTracerProvider)


def test_new_settings_are_read_and_checked() -> None:
    settings = from_environment({"ORDERFLOW_LOG_FORMAT": "json",
                                 "ORDERFLOW_READY_MAX_BACKLOG_AGE": "PT10M",
                                 "ORDERFLOW_METRICS_TOKEN": "s" * 16})
    assert (settings.log_format, settings.ready_max_backlog_age, settings.metrics_token) == (
        "json", timedelta(minutes=10), "s" * 16)
    for name, value in (("ORDERFLOW_LOG_FORMAT", "xml"),
                        ("ORDERFLOW_READY_MAX_BACKLOG_AGE", "PT0S"),
                        ("ORDERFLOW_METRICS_TOKEN", "short")):
        with pytest.raises(ConfigError, match=name):
            from_environment({name: value})
