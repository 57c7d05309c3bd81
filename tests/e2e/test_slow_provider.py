"""A real gunicorn server whose payment provider takes its time (``tok_slow``): while a charge
is under way the server keeps accepting orders within 100 ms, because no transaction is open
during the call (ADR 0020); afterwards every order was charged and shipped once."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.e2e import gunicorn
from tests.e2e.test_server import STYLES, Server, call
from tests.e2e.test_server import place as place_order

pytestmark = pytest.mark.server
ADMIN = "e2e-slow-provider-admin-token"
LATENCY_SECONDS = 6
ACCEPT_WITHIN_SECONDS = 0.1


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    database = tmp_path / "shop.db"
    env = gunicorn.environment(f"sqlite:///{database}", ADMIN, gunicorn.free_port(),
                               ORDERFLOW_SLOW_TOKEN_LATENCY=f"PT{LATENCY_SECONDS}S",
                               ORDERFLOW_CALL_TIMEOUT="PT60S")
    gunicorn.init(env)
    log = tmp_path / "server.log"
    with gunicorn.running(env, log):
        yield Server(f"http://127.0.0.1:{env['PORT']}", log), database


def charges_booked(database: Path) -> dict[str, int]:
    """The sandbox provider's own book, read as another system's would be: key -> cents."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        return dict(connection.execute(
            "SELECT idempotency_key, amount_cents FROM sim_provider_charge"))


def parcels(database: Path) -> list[str]:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
        return [key for (key,) in connection.execute(
            "SELECT idempotency_key FROM sim_carrier_consignment WHERE accepted")]


def timed_place(server: Server, style: str) -> tuple[float, str]:
    started = time.perf_counter()
    order_id = place_order(server, style=style, items=(("sku-1", 1),))
    return time.perf_counter() - started, order_id


def test_the_server_takes_orders_at_once_while_a_charge_is_slow(
        slow_server: tuple[Server, Path]) -> None:
    server, database = slow_server
    slow = place_order(server, style="orchestration", items=(("sku-1", 1),), token="tok_slow")
    wait_for(lambda: f"charge:{slow}" in charges_booked(database), timeout=20,
             what="the slow charge under way")
    began = time.monotonic()
    accepted = [timed_place(server, style) for style in STYLES for _ in range(2)]
    assert time.monotonic() - began < LATENCY_SECONDS, "the slow charge ended while measuring"
    assert call("GET", f"{server.url}/api/orders/{slow}")[1]["status"] != "delivered"
    took = [round(seconds * 1000) for seconds, _ in accepted]
    assert max(took) < ACCEPT_WITHIN_SECONDS * 1000, f"orders took {took} ms"
    print(f"accepted by the server while a charge was under way: {took} ms")

    orders = [slow] + [order_id for _, order_id in accepted]
    for order_id in orders:
        wait_for(lambda o=order_id: call("GET", f"{server.url}/api/orders/{o}")[1]["status"]
                 == "delivered", timeout=60, what=f"order {order_id} delivered")
    assert sorted(charges_booked(database)) == sorted(f"charge:{o}" for o in orders)
    assert sorted(parcels(database)) == sorted(f"ship:{o}" for o in orders)
    for order_id in orders:
        status, money = call("GET", f"{server.url}/api/payments?order_id={order_id}",
                             token=ADMIN)
        assert status == 200 and [p["status"] for p in money["items"]] == ["received"], money
        timeline = call("GET", f"{server.url}/api/orders/{order_id}/timeline")[1]["messages"]
        attempts = [d["attempts"] for m in timeline for d in m["deliveries"]]
        assert set(attempts) == {1}, (order_id, timeline)  # no timeout, no second run
