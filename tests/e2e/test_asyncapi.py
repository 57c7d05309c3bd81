"""``GET /api/asyncapi.json``: a valid AsyncAPI 3.0 document (checked against AsyncAPI's own
JSON Schema, vendored in tests/asyncapi/) with a channel and payload schema for every message
contract, and per style exactly the live blinker connections as receive operations and the
commands each module declares as send operations, read from the wiring, not from a list here."""

from __future__ import annotations

import copy
import importlib
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.bus.messages import Message
from app.bus.wiring import Wiring, module_of, receiver_name
from app.config import STYLES
from app.modules import MODULES
from app.modules.orders.contracts import OrderDelivered
from app.modules.registry import reactions
from tests.asyncapi import channel_address, operations, part_validator, problems

PATH = "/api/asyncapi.json"
KEY = re.compile(r"[A-Za-z0-9_\-]+")  # AsyncAPI's pattern for component keys


def asyncapi(client: FlaskClient) -> dict[str, Any]:
    response = client.get(PATH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    return response.get_json()


def wiring_of(app: Flask) -> Wiring:
    return app.extensions["orderflow"].bus.wiring


def live_connections(wiring: Wiring, style: str) -> set[tuple[str, str]]:
    """(receiver, message type) for every receiver connected to the style's blinker signals,
    asked of blinker itself."""
    return {(receiver_name(receiver, module_of(receiver)), type_name)
            for type_name, signal in wiring.namespaces[style].items()
            for receiver in signal.receivers_for(None)}


def documented_receives(document: dict[str, Any], style: str) -> set[tuple[str, str]]:
    return {(op["x-orderflow-receiver"], channel_address(document, op))
            for op in operations(document, "receive", style)}


def contract_classes() -> list[type[Message]]:
    """The event and command classes each module's contracts.py defines."""
    found = []
    for module in MODULES:
        contracts = importlib.import_module(f"app.modules.{module}.contracts")
        found += [value for value in vars(contracts).values() if isinstance(value, type)
                  and issubclass(value, Message) and value.__module__ == contracts.__name__
                  and value.kind in ("event", "command")]
    return found


def test_the_document_is_valid_asyncapi_3(client: FlaskClient) -> None:
    document = asyncapi(client)

    assert document["asyncapi"] == "3.0.0"
    assert problems(document) == []


def test_the_schema_check_can_fail(client: FlaskClient) -> None:
    broken = copy.deepcopy(asyncapi(client))
    next(iter(broken["operations"].values()))["action"] = "listen"
    del broken["info"]["version"]

    assert len(problems(broken)) >= 2


def test_every_reference_resolves_and_every_key_is_a_plain_name(client: FlaskClient) -> None:
    document = asyncapi(client)

    for ref in refs(document):
        target: Any = document
        for step in ref.removeprefix("#/").split("/"):
            target = target[step]
        assert isinstance(target, dict), ref
    for section in (document["channels"], document["operations"],
                    *document["components"].values()):
        assert all(KEY.fullmatch(key) for key in section), list(section)


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return ([node["$ref"]] if "$ref" in node else []) + [r for v in node.values()
                                                              for r in refs(v)]
    return [r for v in node for r in refs(v)] if isinstance(node, list) else []


@pytest.mark.parametrize("style", STYLES)
def test_the_receive_operations_of_a_style_are_its_live_blinker_connections(
        app: Flask, client: FlaskClient, style: str) -> None:
    live, document = live_connections(wiring_of(app), style), asyncapi(client)

    assert live and documented_receives(document, style) == live
    assert len(operations(document, "receive", style)) == len(live)


@pytest.mark.parametrize("style", STYLES)
def test_the_send_operations_of_a_style_are_the_commands_its_modules_declare(
        client: FlaskClient, style: str) -> None:
    document = asyncapi(client)
    declared = {(module, command.type_name()) for module in MODULES
                for command in getattr(reactions(module, style), "SENDS", [])}

    assert {(op["x-orderflow-module"], channel_address(document, op))
            for op in operations(document, "send", style)} == declared


def test_each_event_is_sent_by_its_owner_in_no_particular_style(client: FlaskClient) -> None:
    document = asyncapi(client)
    events = {(cls.owner, cls.type_name()) for cls in contract_classes() if cls.kind == "event"}

    assert {(op["x-orderflow-module"], channel_address(document, op))
            for op in operations(document, "send", None)} == events
    assert not operations(document, "receive", None)


def when_delivered_tell_the_warehouse(msg: OrderDelivered, uow: Any) -> None:
    """A receiver connected while the app runs."""


def test_a_receiver_connected_while_running_appears_and_goes_when_disconnected(
        app: Flask, client: FlaskClient) -> None:
    wiring, signal = wiring_of(app), OrderDelivered.type_name()
    wiring.connect("hybrid", OrderDelivered, when_delivered_tell_the_warehouse, "shipping")
    connected = documented_receives(asyncapi(client), "hybrid")
    wiring.namespaces["hybrid"].signal(signal).disconnect(when_delivered_tell_the_warehouse)
    disconnected = documented_receives(asyncapi(client), "hybrid")

    added = ("shipping.when_delivered_tell_the_warehouse", signal)
    assert added in connected and added not in disconnected
    assert connected - {added} == disconnected == live_connections(wiring, "hybrid")


def test_every_contract_has_a_channel_with_its_class_as_the_payload(client: FlaskClient) -> None:
    document = asyncapi(client)
    classes = contract_classes()

    assert {channel["address"] for channel in document["channels"].values()} == {
        cls.type_name() for cls in classes}
    for cls in classes:
        message = document["components"]["messages"][cls.__name__]
        assert message["payload"] == {"$ref": f"#/components/schemas/{cls.__name__}"}
        schema = cls.model_json_schema(ref_template="#/components/schemas/{model}",
                                       mode="serialization")
        schema.pop("$defs", None)
        assert document["components"]["schemas"][cls.__name__] == schema


def test_a_message_is_described_as_a_cloudevent(client: FlaskClient) -> None:
    document = asyncapi(client)
    placed = {"specversion": "1.0", "id": "m1", "type": "orderflow.orders.OrderPlaced",
              "source": "/orderflow/orders", "time": "2026-01-05T09:00:00+00:00",
              "datacontenttype": "application/json", "flowid": "o1", "style": "hybrid",
              "kind": "event"}

    headers = part_validator(document, "OrderPlaced", "headers")
    assert headers.is_valid(placed)
    assert headers.is_valid({**placed, "causationid": "m0", "seq": 7, "sampled": True})
    assert not headers.is_valid({**placed, "source": "/orderflow/payment"})  # not its owner
    assert not headers.is_valid({**placed, "type": "orderflow.orders.OrderDelivered"})
    assert not headers.is_valid({key: v for key, v in placed.items() if key != "flowid"})
    for planted in ({"causationid": None}, {"deliveries": []}, {"flow_id": "o1"}):
        assert not headers.is_valid({**placed, **planted}), planted
    assert document["components"]["messages"]["OrderPlaced"]["correlationId"]["location"] == (
        "$message.header#/flowid")


def test_the_route_is_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]

    answer = paths[PATH]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"] == {"$ref": "#/components/schemas/AsyncApiDocument"}
