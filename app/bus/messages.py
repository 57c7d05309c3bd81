"""Messages are immutable values: ids and primitives, never ORM objects.

Events are past tense and may have any number of receivers; commands are imperative and have
exactly one; queries are answered synchronously and never logged. Every message names the order
it belongs to: ``order_id`` is the flow's correlation id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

TYPE_PREFIX = "orderflow"
SPEC_VERSION = "1.0"


def source_uri(module: str) -> str:
    """A CloudEvent's ``source``: the module that published it (``/orderflow/payment``)."""
    return f"/{TYPE_PREFIX}/{module}"

_registry: dict[str, type[Message]] = {}


class Value(BaseModel):
    """A small immutable value inside a message (an order line, say)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Message(Value):
    kind: ClassVar[str] = "message"
    owner: ClassVar[str] = ""  # the module that owns this contract, derived from where it lives
    undoes: ClassVar[bool] = False  # a compensation: it undoes an earlier step of the flow
    # for those who follow the flow from outside (webhooks): no step of the flow waits for it
    outside_the_flow: ClassVar[bool] = False
    # A field whose value gives this message's deliveries an order of their own: they wait
    # only for the module's earlier deliveries of the flow with the same value (outbox).
    lane_field: ClassVar[str | None] = None
    order_id: str

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if cls.kind not in ("event", "command") or cls.__name__ in ("Event", "Command"):
            return
        parts = cls.__module__.split(".")
        if not cls.__dict__.get("owner"):
            cls.owner = parts[-2] if parts[-1] == "contracts" else parts[-1]
        _registry[cls.type_name()] = cls

    @classmethod
    def type_name(cls) -> str:
        return f"{TYPE_PREFIX}.{cls.owner}.{cls.__name__}"

    def lane(self) -> str:
        """Its deliveries' lane: "" (one per module and flow) unless ``lane_field`` names one."""
        return str(getattr(self, self.lane_field)) if self.lane_field else ""


class Event(Message):
    kind: ClassVar[str] = "event"


class Command(Message):
    kind: ClassVar[str] = "command"


class Query(Value):
    """A synchronous question to exactly one module; it changes nothing and is not logged."""

    kind: ClassVar[str] = "query"


def message_class(type_name: str) -> type[Message]:
    try:
        return _registry[type_name]
    except KeyError:
        raise LookupError(f"unknown message type {type_name!r}") from None


def command_types() -> set[str]:
    return {name for name, cls in _registry.items() if cls.kind == "command"}


def message_classes() -> list[type[Message]]:
    """Every event and command class defined so far (a module's contracts register theirs when
    they are imported), by type name."""
    return [_registry[name] for name in sorted(_registry)]


@dataclass(frozen=True)
class Envelope:
    """A logged message in CloudEvents 1.0 form, plus our extensions."""

    id: str
    type: str
    source: str
    time: datetime
    kind: str
    flowid: str
    style: str
    data: dict[str, Any]
    causationid: str | None = None
    seq: int | None = field(default=None, compare=False)
    # W3C trace context of the span that published it (CloudEvents distributed tracing)
    traceparent: str | None = field(default=None, compare=False)

    def message(self) -> Message:
        return message_class(self.type).model_validate(self.data)

    @property
    def short_type(self) -> str:
        return self.type.rsplit(".", 1)[-1]

    def to_cloudevent(self) -> dict[str, Any]:
        """A CloudEvents 1.0 event in the JSON format. Every attribute is a String, URI-reference
        or Timestamp, and an unset optional one is left out rather than sent as null (the spec's
        types have no null). Log state (``seq``, deliveries) is not part of the event (ADR 0027)."""
        event = {
            "specversion": SPEC_VERSION,
            "id": self.id,
            "type": self.type,
            "source": source_uri(self.source),
            "time": self.time.isoformat(),
            "datacontenttype": "application/json",
            "data": self.data,
            "flowid": self.flowid,
            "causationid": self.causationid,
            "style": self.style,
            "kind": self.kind,
            "traceparent": self.traceparent,  # the distributed-tracing extension attribute
        }
        return {name: value for name, value in event.items() if value is not None}
