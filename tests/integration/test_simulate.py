"""`orderflow simulate`: stormy orders through the real bus in every style all end, or wait for
an operator, as their plans say, with stock and money adding up; the same seed gives the same
outcomes; the checks catch what does not add up; bad arguments are refused."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import update
from sqlmodel import col

from app import simulate
from app.cli import orderflow
from app.config import STYLES, Settings
from app.modules.inventory.models import Item
from app.modules.orders.models import Order
from app.modules.payment.provider import SimCharge

ORDERS = 60
SETTLED = re.compile(r"delivered|cancelled \(\w+\)|placed \(parked, waiting for an operator\)")
ROW = re.compile(r"  (?P<label>\S.*?)\s+(?P<orders>\d+)\s+[\d.]+%\s.*")
CHECK = re.compile(r"    (ok  |FAIL)  (.*)")


def simulate_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(orderflow, ["simulate", *args], env=env)


def outcome_rows(output: str) -> dict[str, int]:
    """The rows of the (first) outcome table: label -> orders, without the total."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("  outcome "))
    rows = {}
    for line in lines[start + 1:]:
        match = ROW.fullmatch(line)
        assert match, line
        if match["label"] == "all orders":
            return rows
        rows[match["label"]] = int(match["orders"])
    raise AssertionError("the outcome table has no total")


def checks(output: str) -> list[tuple[str, str]]:
    return [(m[1].strip(), m[2]) for m in map(CHECK.fullmatch, output.splitlines()) if m]


def table(output: str) -> list[str]:
    """The outcome table as printed: counts, shares, durations, messages."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("  outcome "))
    end = next(n for n, line in enumerate(lines) if line.startswith("  all orders"))
    return lines[start:end + 1]


@pytest.mark.parametrize("style", STYLES)
def test_stormy_orders_all_settle_and_stock_and_money_add_up(style: str) -> None:
    result = simulate_cli("--orders", str(ORDERS), "--style", style, "--profile", "stormy")

    assert result.exit_code == 0, result.output
    rows = outcome_rows(result.stdout)
    assert sum(rows.values()) == ORDERS
    assert all(SETTLED.fullmatch(label) for label in rows), rows
    assert rows["delivered"] < ORDERS and len(rows) >= 4  # the storm did hit
    found = checks(result.stdout)
    assert len(found) == 7 and all(status == "ok" for status, _ in found), found
    assert ("ok", f"every order ended as its plan says ({ORDERS} of {ORDERS})") in found


def test_every_style_ends_the_same_orders_the_same_way_in_the_parallel_flow() -> None:
    result = simulate_cli("--orders", "30", "--style", "all", "--flow", "parallel",
                          "--profile", "stormy", "--seed", "3")

    assert result.exit_code == 0, result.output
    assert [line for line in result.stdout.splitlines() if line.startswith("=== ")] == [
        f"=== {style} ===" for style in STYLES]
    assert "ok    the same outcomes in every style: yes" in result.stdout
    assert not any(status == "FAIL" for status, _ in checks(result.stdout))


def test_the_same_seed_gives_the_same_outcome_table_and_another_seed_another() -> None:
    def run(seed: str) -> list[str]:
        result = simulate_cli("--orders", "40", "--style", "hybrid", "--profile", "stormy",
                              "--seed", seed)
        assert result.exit_code == 0, result.output
        return table(result.stdout)

    first = run("11")
    assert run("11") == first
    assert run("12") != first


def test_the_happy_profile_delivers_every_order() -> None:
    result = simulate_cli("--orders", "20", "--style", "choreography", "--profile", "happy")

    assert result.exit_code == 0, result.output
    assert outcome_rows(result.stdout) == {"delivered": 20}


def test_the_checks_catch_stock_money_and_orders_that_do_not_add_up() -> None:
    settings = Settings()
    plans = simulate.draw_plans(simulate.PROFILES["stormy"], 40, seed=5)
    with simulate.open_shop(settings, len(plans)) as shop:
        initial = simulate.stock_levels(shop)
        placed = simulate.Simulation(shop, "hybrid", "sequential", lambda: None).play(plans)

        def failing() -> set[str]:
            result = simulate.judge(shop, "hybrid", placed, initial, settings.price_hold)
            return {check.name for check in result.checks if not check.ok}

        assert failing() == set()
        with shop.bus.db.session() as session:  # a unit goes missing from the shelf
            session.execute(update(Item).where(col(Item.sku) == "sku-1")
                            .values(stock=Item.stock - 1))
            session.commit()
        assert failing() == {"stock"}
        with shop.bus.db.session() as session:  # the bank took a cent more
            session.add(SimCharge(idempotency_key="charge:stray", status="succeeded",
                                  amount_cents=1))
            session.commit()
        assert failing() == {"stock", "money"}
        declined = next(p.order_id for p in placed if p.plan.case == "declined")
        with shop.bus.db.session() as session:  # an order stops half-way, for no reason
            session.execute(update(Order).where(col(Order.id) == declined)
                            .values(status="paid", reason=None))
            session.commit()
        assert failing() == {"stock", "money", "settled", "endings"}


@pytest.mark.parametrize(("args", "where"), [
    (["--orders", "0"], "'--orders'"),
    (["--orders", "-5"], "'--orders'"),
    (["--orders", "ten"], "'--orders'"),
    (["--profile", "windy"], "'--profile'"),
    (["--style", "anarchy"], "'--style'"),
    (["--flow", "sideways"], "'--flow'"),
])
def test_bad_arguments_are_refused_with_what_and_where(args: list[str], where: str) -> None:
    result = simulate_cli(*args)

    assert result.exit_code == 2
    assert f"Invalid value for {where}" in result.output


def test_a_bad_setting_is_refused_naming_the_variable() -> None:
    result = simulate_cli("--orders", "5", env={"ORDERFLOW_PRICE_HOLD": "a week"})

    assert result.exit_code == 2
    assert "ORDERFLOW_PRICE_HOLD" in result.output


def test_a_retry_policy_too_short_for_the_flaky_card_is_refused() -> None:
    result = simulate_cli("--orders", "5", env={"ORDERFLOW_RETRY_MAX_ATTEMPTS": "2"})

    assert result.exit_code == 2
    assert "ORDERFLOW_RETRY_MAX_ATTEMPTS=2" in result.output
