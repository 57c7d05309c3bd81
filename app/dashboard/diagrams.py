"""Mermaid diagrams as text: an order's sequence diagram, read from its message log, and a
style's wiring, read from the live blinker connections. The browser turns them into SVG."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from app.bus.messages import message_class
from app.bus.wiring import Wiring

MODULE_ORDER = ("orders", "payment", "inventory", "shipping")
COMPENSATION_FILL = "rgba(220, 38, 38, 0.12)"


def short(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]


def module_of_source(source: str) -> str:
    return source.rsplit("/", 1)[-1]


def undoes(type_name: str) -> bool:
    try:
        return message_class(type_name).undoes
    except KeyError:  # a type this version no longer has: show it, plainly
        return False


def sequence(messages: list[dict[str, Any]]) -> str:
    """One arrow per delivery: solid for commands, dashed for events, a cross where the
    receiver gave up; compensation on a red background; a note where nobody listens."""
    lines = ["sequenceDiagram", *_participants(messages)]
    for message in messages:
        lines += _steps(message)
    return "\n".join(lines)


def _participants(messages: list[dict[str, Any]]) -> list[str]:
    seen = {module_of_source(m["source"]) for m in messages}
    seen |= {d["module"] for m in messages for d in m["deliveries"]}
    return [f"    participant {module}" for module in MODULE_ORDER if module in seen]


def _steps(message: dict[str, Any]) -> list[str]:
    source, name = module_of_source(message["source"]), short(message["type"])
    if not message["deliveries"]:
        steps = [f"    Note over {source}: {name} (nobody listens)"]
    else:
        steps = [f"    {source}{_arrow(message['kind'], d['status'])}{d['module']}: {name}"
                 for d in message["deliveries"]]
    if undoes(message["type"]):
        return [f"    rect {COMPENSATION_FILL}", *steps, "    end"]
    return steps


def _arrow(kind: str, delivery_status: str) -> str:
    line = "-" if kind == "command" else "--"
    return line + ("x" if delivery_status == "parked" else ">>")


def wiring(live: Wiring, style: str) -> str:
    """Who publishes what to whom: events dotted from their owner to each listener, commands
    thick from their sender to the module that owns them."""
    edges: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    rows = live.subscriptions(style)
    senders = defaultdict(list)
    for row in rows:
        if row["relation"] == "sends":
            senders[row["signal"]].append(row["module"])
    for row in rows:
        if row["relation"] != "listens":
            continue
        message = message_class(row["signal"])
        origins = senders[row["signal"]] if message.kind == "command" else [message.owner]
        for origin in origins:
            edges[(origin, row["module"], message.kind)].append(short(row["signal"]))
    return "\n".join(["flowchart LR", *_nodes(), *_edges(edges)])


def _nodes() -> list[str]:
    return [f"    {module}([{module}])" for module in MODULE_ORDER]


def _edges(edges: dict[tuple[str, str, str], list[str]]) -> list[str]:
    lines = []
    for (origin, target, kind), names in sorted(edges.items()):
        label = "<br/>".join(sorted(set(names)))
        arrow = "==>" if kind == "command" else "-.->"
        lines.append(f'    {origin} {arrow}|"{label}"| {target}')
    return lines


def coupling_matrix(live: Wiring, style: str) -> dict[str, dict[str, list[str]]]:
    """For each module (row) and each other module (column): the column's message types the
    row must know, because it listens to them or sends them."""
    coupling = live.coupling(style)
    return {module: {other: [short(t) for t in coupling.get(module, {}).get(other, [])]
                     for other in MODULE_ORDER if other != module}
            for module in MODULE_ORDER}
