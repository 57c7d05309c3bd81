"""The AsyncAPI document against what orders really do, in every style: every delivery on a
timeline is one of the style's receive operations, every command was sent by a module the
document names as its sender in that style, every event by its owner, and every served event's
attributes and data fit the headers and payload the document gives its message."""

from __future__ import annotations

from typing import Any

import pytest

from app.config import STYLES
from tests.asyncapi import channel_address, operations, part_validator
from tests.conftest import on_every_database
from tests.shop import Shop, short_type

pytestmark = on_every_database


def senders(document: dict[str, Any], style: str | None) -> set[tuple[str, str]]:
    return {(op["x-orderflow-module"], channel_address(document, op))
            for op in operations(document, "send", style)}


def fits(document: dict[str, Any], message: dict[str, Any], part: str, instance: Any) -> list[str]:
    validator = part_validator(document, short_type(message), part)
    return [error.message for error in validator.iter_errors(instance)]


@pytest.mark.parametrize("style", STYLES)
def test_what_every_ending_logs_is_what_the_document_describes(shop: Shop, style: str) -> None:
    document = shop.client.get("/api/asyncapi.json").get_json()
    receives = {(op["x-orderflow-receiver"], channel_address(document, op))
                for op in operations(document, "receive", style)}
    commands, events = senders(document, style), senders(document, None)
    seen = set()

    for order_id in shop.place_every_ending(style):
        for message in shop.timeline(order_id):
            event = message["event"]
            seen |= {(d["receiver"], event["type"]) for d in message["deliveries"]}
            sender = (event["source"].rsplit("/", 1)[-1], event["type"])
            assert sender in (commands if event["kind"] == "command" else events), sender
            attributes = {name: value for name, value in event.items() if name != "data"}
            assert fits(document, message, "headers", attributes) == [], attributes
            assert fits(document, message, "payload", event["data"]) == [], event["data"]

    assert seen and seen <= receives
