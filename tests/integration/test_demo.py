"""`orderflow demo` runs every ending in every style, playing the operator and the clock, and
every ending comes out the same in every style."""

from __future__ import annotations

import re

from click.testing import CliRunner

from app.cli import orderflow
from app.config import STYLES
from app.demo import ENDINGS

EXPECTED = {
    "happy path": "delivered",
    "payment declined": "cancelled (payment_declined)",
    "goods unavailable": "cancelled (out_of_stock)",
    "parcel undeliverable": "cancelled (undeliverable)",
    "clarified by the call centre after 2 days": "delivered",
    "price hold expired while waiting for clarification": "cancelled (price_hold_expired)",
    "provider outage: parked, then retried by an operator": "delivered",
    "VIP: delivered, invoiced, paid 10 days later": "delivered",
    "parallel flow: goods fetched while paying, payment declined":
        "cancelled (payment_declined)",
}


def test_the_demo_ends_every_order_the_same_way_in_every_style() -> None:
    result = CliRunner().invoke(orderflow, ["demo"])

    assert result.exit_code == 0, result.output
    outcomes: dict[str, dict[str, str]] = {}
    style = ""
    for line in result.output.splitlines():
        if match := re.fullmatch(r"=== (\w+) ===", line):
            style = match.group(1)
        elif match := re.fullmatch(r"(.+): (\w+(?: \(\w+\))?), \d+ messages", line):
            outcomes.setdefault(match.group(1), {})[style] = match.group(2)
    assert set(outcomes) == {ending.name for ending in ENDINGS} == set(EXPECTED)
    for name, by_style in outcomes.items():
        assert by_style == dict.fromkeys(STYLES, EXPECTED[name]), name
