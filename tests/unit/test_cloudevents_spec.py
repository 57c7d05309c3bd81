"""The hand-made CloudEvents attribute check (tests/cloudevents_spec.py) finds what the spec
forbids, including what the SDK lets through: each violation is planted in a valid event."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cloudevents.core.formats.json import JSONFormat

from tests.cloudevents_spec import attribute_problems

VALID: dict[str, Any] = {
    "specversion": "1.0", "id": "m1", "type": "orderflow.orders.OrderPlaced",
    "source": "/orderflow/orders", "time": "2026-01-05T09:00:00.123456+00:00",
    "datacontenttype": "application/json", "data": {"order_id": "o1", "items": [1, 2]},
    "flowid": "o1", "causationid": "m0", "style": "hybrid", "kind": "event",
    "retries": 3, "urgent": True, "dataschema": "https://example.com/schema",
}


def test_a_valid_event_has_no_problems() -> None:
    assert attribute_problems(VALID) == []


@pytest.mark.parametrize(("name", "value", "expected"), [
    ("deliveries", [{"status": "done"}], "deliveries: list is not an attribute type"),
    ("causationid", None, "causationid: NoneType is not an attribute type"),
    ("history", {"archived": False}, "history: dict is not an attribute type"),
    ("ratio", 0.5, "ratio: float is not an attribute type"),
    ("seq", 2**31, "seq: an Integer is a signed 32-bit number"),
    ("Flowid", "o1", "Flowid: an extension's name is 1 to 20 of a-z and 0-9"),
    ("flow_id", "o1", "flow_id: an extension's name is 1 to 20 of a-z and 0-9"),
    ("a" * 21, "x", "a" * 21 + ": an extension's name is 1 to 20 of a-z and 0-9"),
    ("note", "line\nbreak", "note: a String may not hold '\\n'"),
    ("time", "2026-01-05 09:00:00", "time: not a Timestamp (RFC 3339)"),
    ("time", "2026-01-05T09:00:00", "time: not a Timestamp (RFC 3339)"),
    ("time", "2026-13-05T09:00:00Z", "time: not a Timestamp (RFC 3339)"),
    ("time", 1767603600, "time: not a Timestamp (RFC 3339)"),
    ("source", "/orderflow/my orders", "source: not a URI-reference (RFC 3986)"),
    ("dataschema", "/schemas/placed", "dataschema: not an absolute URI"),
    ("id", "", "id: must not be empty"),
    ("id", 7, "id: not a String"),
    ("specversion", "0.3", "specversion: not 1.0"),
])
def test_a_planted_violation_is_named(name: str, value: Any, expected: str) -> None:
    assert expected in attribute_problems({**VALID, name: value})


def test_a_missing_required_attribute_is_named() -> None:
    event = {key: value for key, value in VALID.items() if key != "source"}
    assert attribute_problems(event) == ["source: required"]


def test_the_sdk_alone_lets_wrongly_typed_attributes_through() -> None:
    """Why the check exists: the SDK parses an event whose extension is an array or null."""
    planted = {**VALID, "deliveries": [{"status": "done"}], "causationid": None}

    event = JSONFormat().read(None, json.dumps(planted).encode())

    assert event.get_extension("deliveries") == [{"status": "done"}]
    assert len(attribute_problems(planted)) == 2
