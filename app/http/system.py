"""Health, the live wiring report and the AsyncAPI document of the messages."""

from __future__ import annotations

from typing import Any, Literal

from flask import Response
from flask_openapi3 import APIBlueprint, Tag
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from pydantic import BaseModel, ConfigDict, Field

from app import asyncapi, wiring_report
from app.config import STYLES
from app.http.auth import require_metrics_reader
from app.http.errors import ErrorBody
from app.http.formats import runtime
from app.telemetry import metrics

blueprint = APIBlueprint("system", __name__, abp_tags=[Tag(name="system")])


class WiringQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    style: Literal[STYLES] | None = None  # type: ignore[valid-type]


class AsyncApiDocument(BaseModel):
    """An AsyncAPI 3.0 document; only its top level is described here (the document is checked
    against AsyncAPI's own JSON Schema in the tests)."""

    model_config = ConfigDict(extra="allow")
    asyncapi: Literal["3.0.0"]
    info: dict[str, Any]
    default_content_type: str = Field(alias="defaultContentType")
    channels: dict[str, Any]
    operations: dict[str, Any]
    components: dict[str, Any]


class ReadyBody(BaseModel):
    status: Literal["ready", "not ready"]
    reasons: list[str] | None = None
    checks: dict[str, dict[str, Any]]


@blueprint.get("/healthz")
def health() -> Any:
    """Liveness: the process answers. It does not touch the database (see ``/readyz``)."""
    return {"status": "ok", "style": runtime().settings.style,
            "dispatch": runtime().settings.dispatch}


@blueprint.get("/readyz", responses={200: ReadyBody, 503: ReadyBody})
def ready() -> Any:
    """Readiness: the database answers, its migrations are at head, the dispatcher's threads
    and the deadline ticker are alive, and no delivery has waited longer than
    ORDERFLOW_READY_MAX_BACKLOG_AGE. 503 with the reasons otherwise."""
    ok, checks, reasons = runtime().readiness()
    if ok:
        return {"status": "ready", "checks": checks}
    return {"status": "not ready", "reasons": reasons, "checks": checks}, 503


@blueprint.get("/metrics", responses={200: None, 401: ErrorBody, 403: ErrorBody})
def prometheus_metrics() -> Any:
    """Prometheus text format: messages published, deliveries and their durations, HTTP
    requests (added up over every gunicorn worker), and gauges read from the database now
    (backlog, its oldest age, dead letters, due deadlines, orders by status and style).
    Needs ``Authorization: Bearer <ORDERFLOW_METRICS_TOKEN, else the admin token>``."""
    require_metrics_reader()
    return Response(metrics.exposition(runtime().metrics), mimetype=None,
                    content_type=CONTENT_TYPE_PLAIN_0_0_4)


@blueprint.get("/api/wiring")
def wiring(query: WiringQuery) -> Any:
    """Per style: who listens to which signal (read from the live blinker signals), which
    commands each module sends, which module knows which other module's message types, and
    which modules had to learn about VIP customers (derived from the receivers' code)."""
    live = runtime().bus.wiring
    styles = [query.style] if query.style else list(STYLES)
    return {"styles": {style: {"subscriptions": live.subscriptions(style),
                               "coupling": live.coupling(style),
                               "knows_vip": wiring_report.modules_reading(live, style, "vip")}
                       for style in styles}}


@blueprint.get("/api/asyncapi.json", responses={200: AsyncApiDocument})
def asyncapi_document() -> Any:
    """The messages as an AsyncAPI 3.0 document, read from the contracts and the live wiring.

    A channel per message type with its payload schema and its CloudEvents attributes as
    headers; per style, a receive operation for every live connection and a send operation
    for every command a module declares it sends; a send operation per event from its owner."""
    return asyncapi.document(runtime().bus.wiring)
