"""`orderflow compare`: the demo's scenarios (``app.demo.ENDINGS``) played in each style, each
style in its own ``app.demo.sandbox`` (inline dispatch, a fresh in-memory database, the manual
clock), and the styles put side by side: how each scenario ended, how many messages it took,
which module has to know which other module's message types, and where the flow's state lives.
Every figure is read from the run (the message log, the live wiring, the tables), none is
written down here. A scenario that ends differently in some style is an error (exit code 1).

``--format json`` writes these keys (``<style>`` etc. stand for the values):
  styles: [<style>, ...]
  identical: every scenario ended the same in every style (status, reason, money, stock, parcels)
  differences: [<scenario>, ...] that did not
  scenarios: [{name, same, messages: {<style>: count},
               outcomes: {<style>: {result, status, reason, charged_cents, refunded_cents,
                                    parcels, stock: {<sku>: change}}}}]
  runs: {<style>: {orders, messages, messages_per_order, commands, events, deliveries, seconds,
                   knows: {<module>: {listens: {<owner>: [type]}, sends: {<owner>: [type]}}},
                   decides: {<module>: count}, order_rows: {<table>: count},
                   style_specific_rows: {<table>: count}, flow_state: text}}
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Table, func, select
from sqlmodel import SQLModel

from app.bus.log import DeliveryRecord, MessageRecord
from app.bus.messages import message_class
from app.config import STYLES
from app.demo import ENDINGS, Sandbox, quiet_dispatcher, sandbox
from app.modules import MODULES
from app.modules.registry import load_models
from app.wiring_report import MODULE_ORDER

FORMATS = ("text", "markdown", "json")
Knowledge = dict[str, dict[str, dict[str, list[str]]]]  # module -> listens|sends -> owner


# --- what one style did --------------------------------------------------------------------------
@dataclass(frozen=True)
class Observed:
    """What the bank, the carrier and the shelves show at one moment."""

    charged_cents: int
    refunded_cents: int
    parcels: int
    stock: dict[str, int]


@dataclass(frozen=True)
class Outcome:
    """How a scenario ended, as the customer and the shop can see it."""

    status: str
    reason: str | None
    charged_cents: int
    refunded_cents: int
    parcels: int
    stock: tuple[tuple[str, int], ...]  # (sku, change) for each sku whose stock changed
    invoices: tuple[tuple[str, str], ...] = ()  # (status, amount) of each of its invoices

    @property
    def result(self) -> str:
        return self.status + (f" ({self.reason})" if self.reason else "")

    def describe(self) -> str:
        stock = ", ".join(f"{sku} {change:+d}" for sku, change in self.stock) or "unchanged"
        invoices = ", ".join(f"{status} {amount}" for status, amount in self.invoices) or "none"
        return (f"{self.result}; charged {_money(self.charged_cents)}, refunded "
                f"{_money(self.refunded_cents)}, {self.parcels} parcel(s), stock {stock}, "
                f"invoices {invoices}")


@dataclass(frozen=True)
class StyleRun:
    style: str
    outcomes: dict[str, Outcome]  # by scenario name
    messages: dict[str, int]  # by scenario name
    kinds: dict[str, int]  # command | event -> count
    deliveries: int
    seconds: float
    knows: Knowledge
    decides: dict[str, int]  # module -> next steps it decided
    order_rows: dict[str, int]  # table -> rows


def run_style(style: str) -> StyleRun:
    with sandbox() as shop:
        started = time.perf_counter()
        order_ids, outcomes = play_all(shop, style)
        seconds = time.perf_counter() - started
        log, deliveries = read_log(shop)
        per_order = Counter(message.flowid for message in log)  # an order's id is its flowid
        return StyleRun(
            style=style, outcomes=outcomes,
            messages={name: per_order[order_id] for name, order_id in order_ids.items()},
            kinds=dict(Counter(message.kind for message in log)), deliveries=deliveries,
            seconds=seconds, knows=knowledge(shop, style), decides=deciders(log),
            order_rows=order_rows(shop))


def play_all(shop: Sandbox, style: str) -> tuple[dict[str, str], dict[str, Outcome]]:
    order_ids, outcomes = {}, {}
    for ending in ENDINGS:
        before = observe(shop)
        order_ids[ending.name] = shop.operator.play(style, ending)
        outcomes[ending.name] = outcome(shop, order_ids[ending.name], before, observe(shop))
    return order_ids, outcomes


def observe(shop: Sandbox) -> Observed:
    bank, carrier = shop.runtime.bus.adapters.payment_provider, shop.runtime.bus.adapters.carrier
    return Observed(bank.charged_cents, bank.refunded_cents, carrier.parcels_sent,
                    shop.operator.stock())


def outcome(shop: Sandbox, order_id: str, before: Observed, after: Observed) -> Outcome:
    order = shop.operator.order(order_id)
    stock = tuple((sku, after.stock[sku] - count) for sku, count in sorted(before.stock.items())
                  if after.stock[sku] != count)
    invoices = shop.operator.client.get(f"/api/invoices?order_id={order_id}").get_json()
    return Outcome(order["status"], order["reason"],
                   after.charged_cents - before.charged_cents,
                   after.refunded_cents - before.refunded_cents,
                   after.parcels - before.parcels, stock,
                   tuple((i["status"], i["amount"]) for i in invoices["items"]))


def read_log(shop: Sandbox) -> tuple[list[MessageRecord], int]:
    """The message log of the run, and how many deliveries (receiver runs) it made."""
    with shop.runtime.bus.db.reading() as session:
        log = list(session.execute(select(MessageRecord).order_by(MessageRecord.seq)).scalars())
        deliveries = session.execute(select(func.count()).select_from(DeliveryRecord)).scalar()
    return log, int(deliveries or 0)


def knowledge(shop: Sandbox, style: str) -> Knowledge:
    """Per module, the other modules' message types it listens to and sends (orchestration's
    orders sends payment's RetrievePayment), both from the live wiring: what it must know,
    whether or not this run's scenarios needed it (the wiring page counts the same)."""
    rows = shop.runtime.bus.wiring.subscriptions(style)
    listened = [(row["module"], row["signal"]) for row in rows if row["relation"] == "listens"]
    sent = [(row["module"], row["signal"]) for row in rows if row["relation"] == "sends"]
    return {module: {"listens": _foreign(module, listened), "sends": _foreign(module, sent)}
            for module in MODULE_ORDER}


def _foreign(module: str, pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    by_owner: dict[str, set[str]] = {}
    for who, type_name in pairs:
        message_type = message_class(type_name)
        if who == module and message_type.owner != module:
            by_owner.setdefault(message_type.owner, set()).add(message_type.__name__)
    return {owner: sorted(types) for owner, types in sorted(by_owner.items())}


def deciders(log: list[MessageRecord]) -> dict[str, int]:
    """How often each module decided what happens next: it sent a command, or answered
    another module's event with a message of its own. Answering a command is doing as told;
    a message for those outside the flow (OrderStatusChanged, DeliverWebhook) decides nothing."""
    by_id = {message.id: message for message in log}
    steps = [message for message in log if not message_class(message.type).outside_the_flow]
    counts = Counter(message.source for message in steps
                     if message.kind == "command" or _answers_foreign_event(message, by_id))
    return {module: counts[module] for module in MODULE_ORDER}


def _answers_foreign_event(message: MessageRecord, by_id: dict[str, MessageRecord]) -> bool:
    cause = by_id.get(message.causationid or "")
    return cause is not None and cause.kind == "event" and cause.source != message.source


def order_rows(shop: Sandbox) -> dict[str, int]:
    """Rows in each module table that holds something per order (it has an ``order_id``)."""
    with shop.runtime.bus.db.reading() as session:
        return {table.name: int(session.execute(select(func.count()).select_from(table))
                                .scalar() or 0) for table in _per_order_tables()}


def _per_order_tables() -> list[Table]:
    load_models()
    return sorted((table for table in SQLModel.metadata.tables.values()
                   if "order_id" in table.c and table.name.split("_")[0] in MODULES),
                  key=lambda table: table.name)


# --- the styles side by side ---------------------------------------------------------------------
@dataclass(frozen=True)
class Comparison:
    runs: Sequence[StyleRun]

    @property
    def styles(self) -> list[str]:
        return [run.style for run in self.runs]

    @property
    def differences(self) -> list[str]:
        """The scenarios that did not end the same in every style (a scenario missing from a
        style counts as a difference)."""
        names = list(dict.fromkeys(name for run in self.runs for name in run.outcomes))
        return [name for name in names if not self.same(name)]

    def same(self, name: str) -> bool:
        outcomes = [run.outcomes.get(name) for run in self.runs]
        return None not in outcomes and len(set(outcomes)) == 1

    @property
    def identical(self) -> bool:
        return not self.differences

    @property
    def exit_code(self) -> int:
        return 0 if self.identical else 1

    def style_specific_rows(self, run: StyleRun) -> dict[str, int]:
        """Per-order tables this style fills and another style leaves empty: state that exists
        because of how the modules collaborate, not because of the business."""
        return {table: count for table, count in run.order_rows.items() if count and
                any(not other.order_rows.get(table) for other in self.runs)}

    def flow_state(self, run: StyleRun) -> str:
        decided = ", ".join(f"{module} ({count})" for module, count in run.decides.items()
                            if count)
        rows = ", ".join(f"{table} ({count})"
                         for table, count in self.style_specific_rows(run).items())
        return (f"next steps decided by {decided or 'nobody'}; "
                f"style-specific rows: {rows or 'none'}")


def compare(styles: Iterable[str]) -> Comparison:
    with quiet_dispatcher():
        return Comparison([run_style(style) for style in styles])


# --- the report ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Section:
    title: str
    header: list[str]
    rows: list[list[str]]


def sections(comparison: Comparison) -> list[Section]:
    return [outcome_section(comparison), messages_section(comparison),
            totals_section(comparison), knowledge_count_section(comparison),
            knowledge_section(comparison), flow_state_section(comparison)]


def outcome_section(comparison: Comparison) -> Section:
    rows = [[name, *(run.outcomes[name].result if name in run.outcomes else "—"
                     for run in comparison.runs),
             "yes" if comparison.same(name) else "NO"] for name in _scenarios(comparison)]
    return Section("Outcome of each scenario (status, reason; same also compares money, stock "
                   "and parcels)", ["scenario", *comparison.styles, "same"], rows)


def messages_section(comparison: Comparison) -> Section:
    rows = [[name, *(str(run.messages.get(name, "—")) for run in comparison.runs)]
            for name in _scenarios(comparison)]
    return Section("Messages per scenario", ["scenario", *comparison.styles], rows)


def totals_section(comparison: Comparison) -> Section:
    runs = comparison.runs
    rows = [["orders", *(str(len(run.outcomes)) for run in runs)],
            ["messages", *(str(_messages(run)) for run in runs)],
            ["messages per order", *(f"{_per_order(run):.1f}" for run in runs)],
            ["commands", *(str(run.kinds.get("command", 0)) for run in runs)],
            ["events", *(str(run.kinds.get("event", 0)) for run in runs)],
            ["deliveries (receiver runs)", *(str(run.deliveries) for run in runs)],
            ["time taken (s)", *(f"{run.seconds:.2f}" for run in runs)]]
    return Section("Totals per style", ["", *comparison.styles], rows)


def knowledge_count_section(comparison: Comparison) -> Section:
    rows = [[module, *(str(_known_count(run.knows[module])) for run in comparison.runs)]
            for module in MODULE_ORDER]
    return Section("How many other modules' message types each module must know",
                   ["module", *comparison.styles], rows)


def knowledge_section(comparison: Comparison) -> Section:
    rows = [row for module in MODULE_ORDER for run in comparison.runs
            for row in _knowledge_rows(module, run)]
    return Section("Which other modules' message types each module knows (listens to, sends: "
                   "the live wiring)", ["module", "style", "how", "types"],
                   _blank_repeats(rows, columns=2))


def _knowledge_rows(module: str, run: StyleRun) -> list[list[str]]:
    known = run.knows[module]
    rows = [[module, run.style, how.replace("listens", "listens to"), _owners(by_owner)]
            for how, by_owner in known.items() if by_owner]
    return rows or [[module, run.style, "—", "none"]]


def _blank_repeats(rows: list[list[str]], columns: int) -> list[list[str]]:
    """Leave out what the row above already says in the first columns (module, style)."""
    shown, above = [], [""] * columns
    for row in rows:
        lead = [cell if cell != above[i] or any(row[j] != above[j] for j in range(i)) else ""
                for i, cell in enumerate(row[:columns])]
        shown.append(lead + row[columns:])
        above = row[:columns]
    return shown


def flow_state_section(comparison: Comparison) -> Section:
    rows = [[run.style, comparison.flow_state(run)] for run in comparison.runs]
    return Section("Where the flow's state lives (who decides the next step, and per-order "
                   "rows only some styles keep)", ["style", "flow state"], rows)


def verdict(comparison: Comparison) -> str:
    if comparison.identical:
        return f"Every scenario ended the same in {', '.join(comparison.styles)}."
    return f"DIFFERENT OUTCOMES in {len(comparison.differences)} scenario(s):"


def difference_details(comparison: Comparison, name: str) -> list[str]:
    """``style: how it ended, money, parcels, stock`` for one scenario, one line per style."""
    return [f"{run.style}: {run.outcomes[name].describe() if name in run.outcomes else 'not run'}"
            for run in comparison.runs]


def text(comparison: Comparison) -> str:
    parts = [_title(comparison)]
    for section in sections(comparison):
        parts.append(f"{section.title}\n" + _text_table([section.header, *section.rows]))
    parts.append("\n".join([verdict(comparison), *(
        f"  {name}\n" + "\n".join(f"    {line}" for line in difference_details(comparison, name))
        for name in comparison.differences)]))
    return "\n\n".join(parts)


def markdown(comparison: Comparison) -> str:
    parts = [f"## {_title(comparison)}"]
    for section in sections(comparison):
        parts.append(f"### {section.title}\n\n" + _markdown_table(section))
    parts.append("\n".join([f"**{verdict(comparison)}**", "", *(
        f"- {name}\n" + "\n".join(f"  - {line}" for line in difference_details(comparison, name))
        for name in comparison.differences)]).rstrip())
    return "\n\n".join(parts)


def as_json(comparison: Comparison) -> str:
    return json.dumps({
        "styles": comparison.styles, "identical": comparison.identical,
        "differences": comparison.differences,
        "scenarios": [_scenario_json(comparison, name) for name in _scenarios(comparison)],
        "runs": {run.style: _run_json(comparison, run) for run in comparison.runs},
    }, indent=2)


RENDERERS: dict[str, Callable[[Comparison], str]] = {
    "text": text, "markdown": markdown, "json": as_json}


def _scenario_json(comparison: Comparison, name: str) -> dict[str, Any]:
    return {"name": name, "same": comparison.same(name),
            "messages": {run.style: run.messages.get(name) for run in comparison.runs},
            "outcomes": {run.style: _outcome_json(run.outcomes[name])
                         for run in comparison.runs if name in run.outcomes}}


def _outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {"result": outcome.result, "status": outcome.status, "reason": outcome.reason,
            "charged_cents": outcome.charged_cents, "refunded_cents": outcome.refunded_cents,
            "parcels": outcome.parcels, "stock": dict(outcome.stock)}


def _run_json(comparison: Comparison, run: StyleRun) -> dict[str, Any]:
    return {"orders": len(run.outcomes), "messages": _messages(run),
            "messages_per_order": round(_per_order(run), 2),
            "commands": run.kinds.get("command", 0), "events": run.kinds.get("event", 0),
            "deliveries": run.deliveries, "seconds": round(run.seconds, 3),
            "knows": run.knows, "decides": run.decides, "order_rows": run.order_rows,
            "style_specific_rows": comparison.style_specific_rows(run),
            "flow_state": comparison.flow_state(run)}


def _title(comparison: Comparison) -> str:
    return (f"orderflow compare: {len(ENDINGS)} scenarios in {', '.join(comparison.styles)} "
            "(inline dispatch, a fresh in-memory database per style, the manual clock)")


def _scenarios(comparison: Comparison) -> list[str]:
    return list(dict.fromkeys(name for run in comparison.runs for name in run.outcomes))


def _messages(run: StyleRun) -> int:
    return sum(run.messages.values())


def _per_order(run: StyleRun) -> float:
    return _messages(run) / len(run.messages) if run.messages else 0.0


def _known_count(known: dict[str, dict[str, list[str]]]) -> int:
    return len({(owner, name) for by_owner in known.values()
                for owner, names in by_owner.items() for name in names})


def _owners(by_owner: dict[str, list[str]]) -> str:
    return "; ".join(f"{owner}: {', '.join(types)}" for owner, types in by_owner.items()) or "—"


def _money(cents: int) -> str:
    return f"{cents / 100:.2f}"


NUMBER = re.compile(r"[\d.]+")


def _text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(_cell(cell, width) for cell, width in zip(row, widths, strict=True))
                     .rstrip() for row in rows)


def _cell(cell: str, width: int) -> str:
    return cell.rjust(width) if NUMBER.fullmatch(cell) else cell.ljust(width)


def _markdown_table(section: Section) -> str:
    lines = [section.header, ["---"] * len(section.header), *section.rows]
    return "\n".join("| " + " | ".join(cell or " " for cell in line) + " |" for line in lines)


# --- the command ---------------------------------------------------------------------------------
def chosen_styles(styles: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(styles)) or list(STYLES)
    if len(chosen) < 2:
        raise click.BadParameter(f"a comparison needs at least two styles, got only "
                                 f"{chosen[0]!r}; give --style twice or leave it out for all "
                                 "three", param_hint="'--style'")
    return chosen


def main(styles: Iterable[str], report_format: str, output: Path | None) -> int:
    """Run, print or write the report, and return the exit code."""
    chosen = chosen_styles(styles)
    if output is not None and not output.parent.is_dir():
        raise click.BadParameter(f"there is no folder {output.parent}", param_hint="'--output'")
    comparison = compare(chosen)
    report = RENDERERS[report_format](comparison)
    if output is None:
        click.echo(report)
    else:
        write(output, report)
    if not comparison.identical:
        click.echo(f"outcomes differ across styles: {'; '.join(comparison.differences)}",
                   err=True)
    return comparison.exit_code


def write(output: Path, report: str) -> None:
    try:
        output.write_text(report + "\n")
    except OSError as error:
        raise click.BadParameter(f"cannot write {output}: {error.strerror}",
                                 param_hint="'--output'") from None
    click.echo(f"report written to {output}")
