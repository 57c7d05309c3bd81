"""Mermaid diagrams as text: an order's sequence diagram, read from its message log, and a
style's wiring, read from the live blinker connections. The browser turns them into SVG."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from app.bus.messages import message_class
from app.bus.wiring import Wiring
from app.wiring_report import MODULE_ORDER

COMPENSATION_FILL = "rgba(220, 38, 38, 0.12)"


def short(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


def module_of_source(source: str) -> str:
    return source.rsplit("/", 1)[-1]


def undoes(type_name: str) -> bool:
    try:
        return message_class(type_name).undoes
    except LookupError:  # a type this version no longer has: show it, plainly
        return False


def sequence(messages: list[dict[str, Any]]) -> str:
    """One arrow per delivery: solid for commands, dashed for events, a cross where the
    receiver gave up; compensation on a red background; a note where nobody listens.
    ``messages`` are the timeline's: ``{"event": <CloudEvent>, "deliveries": [...]}``."""
    lines = ["sequenceDiagram", *_participants(messages)]
    for message in messages:
        lines += _steps(message)
    return "\n".join(lines)


def _participants(messages: list[dict[str, Any]]) -> list[str]:
    seen = {module_of_source(m["event"]["source"]) for m in messages}
    seen |= {d["module"] for m in messages for d in m["deliveries"]}
    return [f"    participant {module}" for module in MODULE_ORDER if module in seen]


def _steps(message: dict[str, Any]) -> list[str]:
    event = message["event"]
    source, name = module_of_source(event["source"]), short(event["type"])
    if not message["deliveries"]:
        steps = [f"    Note over {source}: {name} (nobody listens)"]
    else:
        steps = [f"    {source}{_arrow(event['kind'], d['status'])}{d['module']}: {name}"
                 for d in message["deliveries"]]
    if undoes(event["type"]):
        return [f"    rect {COMPENSATION_FILL}", *steps, "    end"]
    return steps


def _arrow(kind: str, delivery_status: str) -> str:
    line = "-" if kind == "command" else "--"
    return line + ("x" if delivery_status == "parked" else ">>")


def wiring(live: Wiring, style: str) -> str:
    """Each message as a node between the module that publishes it (an event's owner, a
    command's sender) and the modules that react to it: commands in bold boxes, events in
    rounded ones, compensations in red."""
    lines = ["flowchart LR", *_module_nodes()]
    for type_name, (publishers, listeners) in sorted(_message_paths(live, style).items()):
        message = message_class(type_name)
        node = f"m_{message.__name__}"
        lines.append(f"    {node}{_shape(message.kind, message.__name__)}:::{_class(message)}")
        lines += [f"    {origin} --- {node}" for origin in publishers]
        lines += [f"    {node} --> {target}" for target in listeners]
    return "\n".join([*lines, *CLASSES])


CLASSES = ["    classDef module fill:#102a43,color:#fff,stroke:#102a43",
           "    classDef command fill:#fff,stroke:#1f2933,stroke-width:2px",
           "    classDef event fill:#f0f4f8,stroke:#9aa5b1,stroke-dasharray:4 3",
           "    classDef undo fill:#fee2e2,stroke:#b91c1c"]


def _message_paths(live: Wiring, style: str) -> dict[str, tuple[list[str], list[str]]]:
    rows = live.subscriptions(style)
    senders: dict[str, list[str]] = defaultdict(list)
    listeners: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        (senders if row["relation"] == "sends" else listeners)[row["signal"]].append(row["module"])
    paths = {}
    for type_name, modules in listeners.items():
        message = message_class(type_name)
        origins = senders[type_name] if message.kind == "command" else [message.owner]
        paths[type_name] = (sorted(set(origins)), modules)
    return paths


def _module_nodes() -> list[str]:
    return [f"    {module}[{module}]:::module" for module in MODULE_ORDER]


def _shape(kind: str, name: str) -> str:
    return f"[{name}]" if kind == "command" else f"({name})"


def _class(message: type) -> str:
    return "undo" if message.undoes else message.kind


def coupling_matrix(live: Wiring, style: str) -> dict[str, dict[str, list[str]]]:
    """For each module (row) and each other module (column): the column's message types the
    row must know, because it listens to them or sends them."""
    coupling = live.coupling(style)
    return {module: {other: [short(t) for t in coupling.get(module, {}).get(other, [])]
                     for other in MODULE_ORDER if other != module}
            for module in MODULE_ORDER}
