"""CloudEvents 1.0 attribute rules, checked by hand: the SDK checks attribute names and the
required attributes, not the types of the values. From the core specification (its type system,
context attributes and extension naming) and the JSON event format's type mapping."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

REQUIRED = ("id", "source", "specversion", "type")
CORE = {"id": "String", "source": "URI-reference", "specversion": "String", "type": "String",
        "datacontenttype": "String", "dataschema": "URI", "subject": "String",
        "time": "Timestamp"}
NOT_ATTRIBUTES = ("data", "data_base64")  # the event's data, in the JSON format's two members
EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
INTEGER_RANGE = range(-(2**31), 2**31)
# RFC 3339's date-time (section 5.6); the values are then checked by datetime itself.
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")
# RFC 3986: the characters a URI reference may hold, a %XX escape, and a scheme.
URI_CHARACTERS = re.compile(r"([A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def attribute_problems(event: dict[str, Any]) -> list[str]:
    """What makes this event (the JSON format's object) break the attribute rules; [] when
    nothing does."""
    problems = [f"{name}: required" for name in REQUIRED if name not in event]
    for name, value in event.items():
        if name not in NOT_ATTRIBUTES:
            problems += [f"{name}: {problem}" for problem in _problems(name, value)]
    if event.get("specversion") != "1.0":
        problems.append("specversion: not 1.0")
    return problems


def _problems(name: str, value: Any) -> list[str]:
    if name in CORE:
        problem = CHECKS[CORE[name]](value)
        if problem is None and name in REQUIRED and value == "":
            problem = "must not be empty"
        return [problem] if problem else []
    problems = [] if EXTENSION_NAME.fullmatch(name) else [
        "an extension's name is 1 to 20 of a-z and 0-9"]
    return problems + [problem for problem in [_extension_value(value)] if problem]


def _extension_value(value: Any) -> str | None:
    """In the JSON format an extension is a JSON boolean (Boolean), number (Integer) or string
    (String, Binary, URI, URI-reference, Timestamp): never null, an array or an object."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _integer(value)
    if isinstance(value, str):
        return _string(value)
    return f"{type(value).__name__} is not an attribute type"


def _integer(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return "not an Integer"
    return None if value in INTEGER_RANGE else "an Integer is a signed 32-bit number"


def _string(value: Any) -> str | None:
    if not isinstance(value, str):
        return "not a String"
    bad = [c for c in value if _disallowed(c)]
    return f"a String may not hold {bad[0]!r}" if bad else None


def _disallowed(character: str) -> bool:
    """Control characters, surrogates and Unicode's noncharacters."""
    point = ord(character)
    return (point <= 0x1F or 0x7F <= point <= 0x9F or 0xD800 <= point <= 0xDFFF
            or 0xFDD0 <= point <= 0xFDEF or point & 0xFFFE == 0xFFFE)


def _uri_reference(value: Any) -> str | None:
    problem = _string(value)
    if problem is None and not URI_CHARACTERS.fullmatch(value):
        problem = "not a URI-reference (RFC 3986)"
    return problem


def _uri(value: Any) -> str | None:
    problem = _uri_reference(value)
    if problem is None and not SCHEME.match(value):
        problem = "not an absolute URI"
    return problem


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str) or not TIMESTAMP.fullmatch(value):
        return "not a Timestamp (RFC 3339)"
    try:
        datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        return "not a Timestamp (RFC 3339)"
    return None


# the types of the core attributes (no core attribute is a Boolean, an Integer or Binary)
CHECKS: dict[str, Callable[[Any], str | None]] = {
    "String": _string, "URI": _uri, "URI-reference": _uri_reference, "Timestamp": _timestamp}
