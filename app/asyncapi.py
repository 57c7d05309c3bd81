"""The messages as an AsyncAPI 3.0 document, generated from the message contracts (the pydantic
classes of every ``contracts.py``) and the live wiring (ADR 0027): one channel per message type
(its blinker signal), the payload schema of its class, the CloudEvents attributes as its
headers; per style, a receive operation for each live connection and a send operation for each
command a module declares it sends; a send operation for each event from the module that owns it.

It reads the message registry and the wiring, never a module: ``app.http`` serves it."""

from __future__ import annotations

import inspect
import re
from importlib import metadata
from typing import Any

from app.bus.messages import Message, message_class, message_classes, source_uri
from app.bus.wiring import Wiring
from app.http import cloudevents

VERSION = "3.0.0"
ATTRIBUTES = "CloudEventAttributes"
SCHEMAS = "#/components/schemas/"
_NOT_IN_KEYS = re.compile(r"[^A-Za-z0-9_-]")  # operation and channel keys: ^[A-Za-z0-9_\-]+$


def document(wiring: Wiring) -> dict[str, Any]:
    classes = documented_classes(wiring)
    schemas: dict[str, Any] = {ATTRIBUTES: cloudevents.attributes_schema()}
    for cls in classes:
        schemas.update(payload_schemas(cls))
    return {"asyncapi": VERSION, "info": _info(wiring), "defaultContentType": "application/json",
            "channels": {cls.__name__: _channel(cls) for cls in classes},
            "operations": operations(wiring, classes),
            "components": {"messages": {cls.__name__: _message(cls) for cls in classes},
                           "schemas": schemas}}


def documented_classes(wiring: Wiring) -> list[type[Message]]:
    """Every contract's messages, and any other type something listens to or sends."""
    wired = {row["signal"] for style in wiring.styles for row in wiring.subscriptions(style)}
    contracts = {cls.type_name() for cls in message_classes()
                 if cls.__module__.endswith(".contracts")}
    classes = [message_class(name) for name in sorted(contracts | wired)]
    names = [cls.__name__ for cls in classes]
    if len(set(names)) != len(names):
        raise ValueError(f"two message classes share a name: {sorted(names)}")
    return classes


def payload_schemas(cls: type[Message]) -> dict[str, Any]:
    """The class's JSON Schema and those of the values inside it, referenced from
    components/schemas (pydantic's ``$defs`` would not resolve inside the document)."""
    schema = cls.model_json_schema(ref_template=SCHEMAS + "{model}", mode="serialization")
    inside = schema.pop("$defs", {})
    return {**inside, cls.__name__: schema}


def operations(wiring: Wiring, classes: list[type[Message]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for style in wiring.styles:
        for row in wiring.subscriptions(style):
            key, operation = (_receive(wiring, style, row) if row["relation"] == "listens"
                              else _send_command(style, row))
            found[key] = operation
    for cls in classes:
        if cls.kind == "event":
            found[_key(cls.owner, "publishes", cls.__name__)] = _publish_event(cls)
    return found


def _receive(wiring: Wiring, style: str, row: dict[str, str]) -> tuple[str, dict[str, Any]]:
    name, module = short(row["signal"]), row["module"]
    operation = {**_operation("receive", name), "title": f"{row['receiver']} receives {name}",
                 "summary": f"In {style}, {module} receives {name}.",
                 "tags": [{"name": style}, {"name": module}],
                 "x-orderflow-style": style, "x-orderflow-module": module,
                 "x-orderflow-receiver": row["receiver"]}
    doc = inspect.getdoc(wiring.receiver(style, row["signal"], row["receiver"]))
    if doc:
        operation["description"] = doc
    return _key(style, row["receiver"], name), operation


def _send_command(style: str, row: dict[str, str]) -> tuple[str, dict[str, Any]]:
    name, module = short(row["signal"]), row["module"]
    return _key(style, module, "sends", name), {
        **_operation("send", name), "title": f"{module} sends {name}",
        "summary": f"In {style}, {module} sends the command {name} (it declares so in "
                   f"its SENDS; start-up checks that exactly one receiver listens).",
        "tags": [{"name": style}, {"name": module}],
        "x-orderflow-style": style, "x-orderflow-module": module}


def _publish_event(cls: type[Message]) -> dict[str, Any]:
    return {**_operation("send", cls.__name__), "title": f"{cls.owner} publishes {cls.__name__}",
            "summary": f"{cls.owner} owns {cls.__name__} and is the only module to publish "
                       "it (its source), in whichever styles its flows reach it; the wiring "
                       "does not say which, so this operation names no style.",
            "tags": [{"name": cls.owner}], "x-orderflow-module": cls.owner}


def _operation(action: str, name: str) -> dict[str, Any]:
    return {"action": action, "channel": {"$ref": f"#/channels/{name}"},
            "messages": [{"$ref": f"#/channels/{name}/messages/{name}"}]}


def _channel(cls: type[Message]) -> dict[str, Any]:
    return {"address": cls.type_name(), "title": cls.__name__,
            "description": f"The {cls.kind} {cls.__name__} of the {cls.owner} module: the "
                           f"signal {cls.type_name()} in each style's blinker namespace.",
            "messages": {cls.__name__: {"$ref": f"#/components/messages/{cls.__name__}"}}}


def _message(cls: type[Message]) -> dict[str, Any]:
    tags = [{"name": cls.kind}, {"name": cls.owner}, *([{"name": "compensation"}]
                                                       if cls.undoes else [])]
    message = {"name": cls.__name__, "title": cls.__name__, "contentType": "application/json",
               "headers": _headers(cls), "payload": {"$ref": SCHEMAS + cls.__name__},
               "correlationId": {"description": "the order: every message of an order "
                                                "carries its id as flowid",
                                 "location": "$message.header#/flowid"},
               "tags": tags, "x-orderflow-type": cls.type_name()}
    doc = cls.__dict__.get("__doc__")  # its own: inspect.getdoc would inherit Value's
    return {**message, **({"summary": inspect.cleandoc(doc).splitlines()[0]} if doc else {})}


def _headers(cls: type[Message]) -> dict[str, Any]:
    """A message travels as a CloudEvent: its context attributes are the headers (in HTTP
    binary mode, ``ce-`` headers), its payload is the event's ``data``."""
    fixed: dict[str, Any] = {"type": {"const": cls.type_name()}, "kind": {"const": cls.kind}}
    if cls.kind == "event":  # a command's source is whichever module sent it
        fixed["source"] = {"const": source_uri(cls.owner)}
    return {"type": "object", "allOf": [{"$ref": SCHEMAS + ATTRIBUTES},
                                        {"type": "object", "properties": fixed}]}


def _info(wiring: Wiring) -> dict[str, Any]:
    return {"title": "orderflow messages", "version": _version(),
            "description": "The messages the orders, payment, inventory and shipping modules "
                           "exchange through blinker signals over the transactional outbox, "
                           "each a CloudEvents 1.0 event (the attributes as headers, the "
                           "message as the payload). Who receives and who sends what is read "
                           "from the live wiring, per collaboration style "
                           f"({', '.join(wiring.styles)}): the operations carry the style in "
                           "x-orderflow-style and as a tag.",
            "tags": [{"name": style, "description": "a collaboration style"}
                     for style in wiring.styles]}


def _version() -> str:
    try:
        return metadata.version("orderflow")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0"


def short(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


def _key(*parts: str) -> str:
    return _NOT_IN_KEYS.sub("-", "-".join(parts))
