"""The wiring as Markdown tables, generated from the live signals (the README embeds them)."""

from __future__ import annotations

from collections.abc import Iterable

from app.bus.wiring import Wiring

MODULE_ORDER = ("orders", "payment", "inventory", "shipping")


def markdown(wiring: Wiring, styles: Iterable[str] | None = None) -> str:
    return "\n".join(style_table(wiring, style) for style in styles or wiring.styles)


def style_table(wiring: Wiring, style: str) -> str:
    rows = wiring.subscriptions(style)
    coupling = wiring.coupling(style)
    lines = [f"#### {style}", "",
             "| module | listens to | sends commands | foreign message types it must know |",
             "|---|---|---|---|"]
    for module in MODULE_ORDER:
        listens = sorted({_short(r["signal"]) for r in rows
                          if r["module"] == module and r["relation"] == "listens"})
        sends = [_short(r["signal"]) for r in rows
                 if r["module"] == module and r["relation"] == "sends"]
        known = sum(len(types) for types in coupling.get(module, {}).values())
        lines.append(f"| {module} | {', '.join(listens) or '—'} | {', '.join(sends) or '—'} "
                     f"| {known} |")
    return "\n".join([*lines, ""])


def _short(type_name: str) -> str:
    return type_name.rsplit(".", 1)[-1]
