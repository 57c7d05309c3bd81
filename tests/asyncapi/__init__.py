"""Reading the served AsyncAPI document in tests: the official AsyncAPI 3.0 JSON Schema vendored
beside this file (see README.md here for where it comes from), and validators for a message's
payload and headers that resolve references inside the document."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SCHEMA_FILE = Path(__file__).with_name("asyncapi-3.0.0.schema.json")
DOCUMENT = "urn:orderflow:asyncapi"


@cache
def asyncapi_schema() -> Draft7Validator:
    """AsyncAPI's own schema is JSON Schema draft 7, references bundled inside it."""
    return Draft7Validator(json.loads(SCHEMA_FILE.read_text()))


def problems(document: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message[:200]}"
            for error in asyncapi_schema().iter_errors(document)]


def channel_address(document: dict[str, Any], operation: dict[str, Any]) -> str:
    channel = operation["channel"]["$ref"].removeprefix("#/channels/")
    return str(document["channels"][channel]["address"])


def operations(document: dict[str, Any], action: str,
               style: str | None) -> list[dict[str, Any]]:
    """The operations with this action whose style is ``style`` (None: those naming none)."""
    return [op for op in document["operations"].values()
            if op["action"] == action and op.get("x-orderflow-style") == style]


def part_validator(document: dict[str, Any], message: str, part: str) -> Draft202012Validator:
    """Validates instances against a message's ``payload`` or ``headers`` (pydantic writes
    draft 2020-12), resolving ``#/components/...`` inside the document."""
    registry = Registry().with_resource(
        DOCUMENT, Resource.from_contents(document, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{DOCUMENT}#/components/messages/{message}/{part}"},
                                registry=registry)
