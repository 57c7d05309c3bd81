"""CloudEvents over HTTP (the HTTP protocol binding 1.0 and the JSON event format 1.0): one
event in structured mode, one in binary mode, or a batch. The events are dicts in the JSON
format, as ``Envelope.to_cloudevent`` makes them (ADR 0027)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, NotRequired
from urllib.parse import quote

from flask import Response
from pydantic import ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from app.config import STYLES

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
MODES = ("structured", "binary")
HEADER_PREFIX = "ce-"
# Binding 3.1.3.2: printable ASCII travels as it is, but for space, '"' and '%'; the rest is
# percent-encoded UTF-8.
_SAFE_IN_HEADERS = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in ' "%')


TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
Text = Annotated[str, Field(min_length=1)]


# CloudEvents 1.0: an attribute is named with 1 to 20 of a-z and 0-9 and, in the JSON format,
# is a string (String, URI, URI-reference, Timestamp, Binary), an integer or a boolean
ANY_ATTRIBUTE = {"propertyNames": {"pattern": "^[a-z0-9]{1,20}$"},
                 "additionalProperties": {"anyOf": [{"type": "string"}, {"type": "integer"},
                                                    {"type": "boolean"}]}}


class CloudEventAttributes(TypedDict):
    """The context attributes of every message orderflow logs (CloudEvents 1.0): the required
    four, ``time`` and ``datacontenttype``, and orderflow's extensions. An unset optional
    attribute is absent, never null."""

    __pydantic_config__ = ConfigDict(json_schema_extra=ANY_ATTRIBUTE)  # type: ignore[misc]

    specversion: Annotated[Literal["1.0"], Field(description="the CloudEvents version")]
    id: Annotated[Text, Field(description="the message's id, unique in the log")]
    type: Annotated[Text, Field(description="orderflow.<owning module>.<message class>")]
    source: Annotated[Text, Field(json_schema_extra={"format": "uri-reference"},
                                  description="/orderflow/<module>: an event's owner, or "
                                              "the module that sent a command")]
    time: Annotated[str, Field(json_schema_extra={"format": "date-time"},
                               description="when it was logged (RFC 3339)")]
    datacontenttype: Literal["application/json"]
    flowid: Annotated[Text, Field(description="extension: the order id (correlation)")]
    causationid: NotRequired[Annotated[Text, Field(
        description="extension: the id of the message whose handling published this one; "
                    "absent when an HTTP request published it")]]
    style: Annotated[Literal[STYLES], Field(  # type: ignore[valid-type]
        description="extension: the order's collaboration style")]
    kind: Annotated[Literal["event", "command"], Field(description="extension")]
    traceparent: NotRequired[Annotated[str, Field(
        pattern=TRACEPARENT, description="extension (distributed tracing): the W3C trace "
                                         "context of the span that published it")]]


class StructuredCloudEvent(CloudEventAttributes):
    """A CloudEvent in the JSON format: the attributes and the data."""

    data: Annotated[dict[str, Any], Field(description="the message; payment tokens are "
                                                      "shown as [redacted]")]


def attributes_schema() -> dict[str, Any]:
    return TypeAdapter(CloudEventAttributes).json_schema()


def event_schema() -> dict[str, Any]:
    return TypeAdapter(StructuredCloudEvent).json_schema()


def structured(event: dict[str, Any]) -> Response:
    """The whole event, attributes and data, as the body."""
    return Response(json.dumps(event), content_type=STRUCTURED)


def batch(events: list[dict[str, Any]]) -> Response:
    """A JSON array of structured events, in order."""
    return Response(json.dumps(events), content_type=BATCH)


def binary(event: dict[str, Any]) -> Response:
    """The attributes as ``ce-`` headers (``datacontenttype`` as Content-Type), the data as
    the body."""
    attributes = {name: value for name, value in event.items()
                  if name not in ("data", "datacontenttype")}
    response = Response(json.dumps(event["data"]), content_type=event["datacontenttype"])
    for name, value in attributes.items():
        response.headers[HEADER_PREFIX + name] = header_value(value)
    return response


def header_value(value: str | int | bool) -> str:
    """An attribute's value in an HTTP header: Booleans as ``true``/``false``, the rest as
    their string form, percent-encoded where the binding says so."""
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return quote(text, safe=_SAFE_IN_HEADERS)
