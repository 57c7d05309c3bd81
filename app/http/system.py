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
from app.http.errors import Problem, error_response
from app.http.formats import runtime
from app.http.openapi import METRICS_READER
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
    status: Literal["ready"]
    checks: dict[str, dict[str, Any]]


class NotReadyProblem(Problem):
    """Problem details (``code``: ``not_ready``) with what failed: each reason starts with the
    name of its check."""

    reasons: list[str]
    checks: dict[str, dict[str, Any]]


class HealthBody(BaseModel):
    status: Literal["ok"]
    style: str = Field(description="the style new orders get when they name none")
    dispatch: Literal["inline", "background"]


class WiringBody(BaseModel):
    """Per style: ``subscriptions`` (message type -> receivers, from the live blinker signals),
    ``coupling`` and ``knows_vip``."""

    styles: dict[str, dict[str, Any]]


METRICS_TEXT = {"description": "Prometheus text exposition format 0.0.4",
                "content": {"text/plain": {"schema": {"type": "string"}}}}


@blueprint.get("/healthz", operation_id="getHealth", responses={200: HealthBody})
def health() -> Any:
    """Liveness: the process answers. It does not touch the database (see ``/readyz``)."""
    return {"status": "ok", "style": runtime().settings.style,
            "dispatch": runtime().settings.dispatch}


@blueprint.get("/readyz", operation_id="getReadiness",
               responses={200: ReadyBody, 503: NotReadyProblem})
def ready() -> Any:
    """Readiness: the database answers, its migrations are at head, the dispatcher's threads
    and the deadline ticker are alive, and no delivery has waited longer than
    ORDERFLOW_READY_MAX_BACKLOG_AGE. 503 with the reasons otherwise."""
    ok, checks, reasons = runtime().readiness()
    if ok:
        return {"status": "ready", "checks": checks}
    return error_response(503, "not_ready", "; ".join(reasons), reasons=reasons, checks=checks)


@blueprint.get("/metrics", operation_id="getMetrics", security=METRICS_READER,
               responses={200: METRICS_TEXT, 401: Problem, 403: Problem})
def prometheus_metrics() -> Any:
    """Prometheus text format: messages published, deliveries and their durations, HTTP
    requests (added up over every gunicorn worker), and gauges read from the database now
    (backlog, its oldest age, dead letters, due deadlines, orders by status and style).
    Needs ``Authorization: Bearer <ORDERFLOW_METRICS_TOKEN, else the admin token>``."""
    require_metrics_reader()
    return Response(metrics.exposition(runtime().metrics), mimetype=None,
                    content_type=CONTENT_TYPE_PLAIN_0_0_4)


@blueprint.get("/api/wiring", operation_id="getWiring", responses={200: WiringBody})
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


@blueprint.get("/api/asyncapi.json", operation_id="getAsyncApi", responses={200: AsyncApiDocument})
def asyncapi_document() -> Any:
    """The messages as an AsyncAPI 3.0 document, read from the contracts and the live wiring.

    A channel per message type with its payload schema and its CloudEvents attributes as
    headers; per style, a receive operation for every live connection and a send operation
    for every command a module declares it sends; a send operation per event from its owner."""
    return asyncapi.document(runtime().bus.wiring)
