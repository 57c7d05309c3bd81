"""`orderflow compare` plays the demo's scenarios in each style and puts the styles side by side:
identical outcomes exit 0, and the report shows how the styles couple the modules differently."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from app import compare
from app.cli import orderflow
from app.config import STYLES
from app.dashboard import diagrams
from app.demo import ENDINGS
from tests.conftest import build_app


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    result = CliRunner().invoke(orderflow, ["compare", "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def two_styles() -> compare.Comparison:
    return compare.compare(["orchestration", "hybrid"])


def test_every_scenario_ends_the_same_in_every_style(report: dict[str, Any]) -> None:
    assert report["styles"] == list(STYLES)
    assert (report["identical"], report["differences"]) == (True, [])
    assert [scenario["name"] for scenario in report["scenarios"]] == [e.name for e in ENDINGS]
    for scenario in report["scenarios"]:
        outcomes = list(scenario["outcomes"].values())
        assert len(outcomes) == len(STYLES), scenario["name"]
        assert all(outcome == outcomes[0] for outcome in outcomes), scenario["name"]
    declined = report["scenarios"][1]["outcomes"]["hybrid"]
    assert declined["result"] == "cancelled (payment_declined)"
    assert (declined["charged_cents"], declined["parcels"], declined["stock"]) == (0, 0, {})


def test_payment_knows_order_placed_only_in_choreography(report: dict[str, Any]) -> None:
    runs = report["runs"]
    assert "OrderPlaced" in runs["choreography"]["knows"]["payment"]["listens"]["orders"]
    assert runs["orchestration"]["knows"]["payment"] == {"listens": {}, "sends": {}}
    orchestrating = runs["orchestration"]["knows"]["orders"]["sends"]
    assert "RetrievePayment" in orchestrating["payment"]
    assert "RetrievePayment" not in str(runs["choreography"]["knows"])


def test_orchestration_decides_in_orders_and_choreography_everywhere(
        report: dict[str, Any]) -> None:
    runs = report["runs"]
    assert [m for m, n in runs["orchestration"]["decides"].items() if n] == ["orders"]
    flow_modules = {m: n for m, n in runs["choreography"]["decides"].items() if m != "webhooks"}
    assert all(flow_modules.values()) and len(flow_modules) == 4
    assert {run["decides"]["webhooks"] for run in runs.values()} == {0}  # no webhook in the demo
    assert runs["orchestration"]["style_specific_rows"] == {}
    assert "shipping_destination" in runs["choreography"]["style_specific_rows"]
    assert runs["orchestration"]["flow_state"].startswith("next steps decided by orders (")


def test_messages_are_counted_from_the_log(report: dict[str, Any]) -> None:
    for style, run in report["runs"].items():
        per_scenario = sum(s["messages"][style] for s in report["scenarios"])
        assert run["messages"] == per_scenario == run["commands"] + run["events"], style
        assert run["orders"] == len(ENDINGS)
    assert report["runs"]["choreography"]["commands"] == 0
    assert report["runs"]["orchestration"]["commands"] > report["runs"]["hybrid"]["commands"] > 0


def test_markdown_report_is_written_as_tables(tmp_path: Path) -> None:
    target = tmp_path / "handout.md"
    result = CliRunner().invoke(orderflow, ["compare", "--style", "choreography", "--style",
                                            "orchestration", "--format", "markdown",
                                            "--output", str(target)])

    assert result.exit_code == 0, result.output
    assert f"report written to {target}" in result.output
    handout = target.read_text()
    assert "| scenario | choreography | orchestration | same |" in handout
    assert len(re.findall(r"^### .+\n\n\| .+ \|\n\| --- \|", handout, re.MULTILINE)) == 6
    assert "| happy path | delivered | delivered | yes |" in handout
    assert "hybrid" not in handout


def test_a_difference_in_outcome_or_money_is_an_error(two_styles: compare.Comparison) -> None:
    assert (two_styles.identical, two_styles.exit_code) == (True, 0)
    hybrid = two_styles.runs[1]
    declined, happy = hybrid.outcomes["payment declined"], hybrid.outcomes["happy path"]
    changed = {**hybrid.outcomes,
               "payment declined": dataclasses.replace(declined, reason="out_of_stock"),
               "happy path": dataclasses.replace(happy, refunded_cents=happy.charged_cents)}
    differing = compare.Comparison([two_styles.runs[0],
                                    dataclasses.replace(hybrid, outcomes=changed)])

    assert differing.differences == ["happy path", "payment declined"]
    assert (differing.identical, differing.exit_code) == (False, 1)
    text = compare.text(differing)
    assert re.search(r"^payment declined +cancelled \(payment_declined\) +cancelled "
                     r"\(out_of_stock\) +NO$", text, re.MULTILINE)
    assert "DIFFERENT OUTCOMES in 2 scenario(s)" in text
    assert "hybrid: delivered; charged 24.90, refunded 24.90" in text
    assert json.loads(compare.as_json(differing))["differences"] == differing.differences


def test_a_vip_never_invoiced_in_one_style_is_a_difference(
        two_styles: compare.Comparison) -> None:
    hybrid = two_styles.runs[1]
    vip = hybrid.outcomes["VIP: delivered, invoiced, paid 10 days later"]
    assert [status for status, _ in vip.invoices] == ["paid"]
    never_invoiced = {**hybrid.outcomes,
                      "VIP: delivered, invoiced, paid 10 days later":
                          dataclasses.replace(vip, invoices=())}
    differing = compare.Comparison([two_styles.runs[0],
                                    dataclasses.replace(hybrid, outcomes=never_invoiced)])

    assert differing.differences == ["VIP: delivered, invoiced, paid 10 days later"]
    assert "invoices none" in compare.text(differing)


def test_a_scenario_missing_from_one_style_is_a_difference(
        two_styles: compare.Comparison) -> None:
    hybrid = two_styles.runs[1]
    fewer = {name: o for name, o in hybrid.outcomes.items() if name != "happy path"}
    differing = compare.Comparison([two_styles.runs[0],
                                    dataclasses.replace(hybrid, outcomes=fewer)])
    assert (differing.differences, differing.exit_code) == (["happy path"], 1)


def test_a_comparison_needs_two_styles_and_a_folder_to_write_into(tmp_path: Path) -> None:
    runner = CliRunner()
    one = runner.invoke(orderflow, ["compare", "--style", "hybrid", "--style", "hybrid"])
    assert one.exit_code == 2
    assert "'--style'" in one.output and "at least two styles" in one.output
    nowhere = runner.invoke(orderflow, ["compare", "--output", str(tmp_path / "no" / "x.md")])
    assert nowhere.exit_code == 2
    assert "'--output'" in nowhere.output and "no folder" in nowhere.output


def test_text_report_puts_the_styles_side_by_side(two_styles: compare.Comparison) -> None:
    text = compare.text(two_styles)
    assert re.search(r"^scenario +orchestration +hybrid +same$", text, re.MULTILINE)
    assert re.search(r"^commands +\d+ +\d+$", text, re.MULTILINE)
    assert text.endswith("Every scenario ended the same in orchestration, hybrid.")


def test_each_module_must_know_as_many_types_as_the_wiring_page_counts(
        report: dict[str, Any], tmp_path: Path) -> None:
    """One definition of coupling: what a module listens to and sends in the live wiring,
    whether or not compare's scenarios needed a type (CancelPayment is wired but never sent
    in them)."""
    app = build_app(f"sqlite:///{tmp_path / 'wiring.db'}", seed=False)
    live = app.extensions["orderflow"].bus.wiring
    for style in STYLES:
        counted = {module: sum(len(types) for types in row.values())
                   for module, row in diagrams.coupling_matrix(live, style).items()}
        knows = report["runs"][style]["knows"]
        assert {module: compare._known_count(known) for module, known in knows.items()} == \
            counted, style
    assert "CancelPayment" in str(report["runs"]["orchestration"]["knows"]["orders"]["sends"])
    app.extensions["orderflow"].close()
