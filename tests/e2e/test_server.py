"""The four endings (and the flaky provider) in every style, against a real gunicorn process
with background dispatch, over HTTP. Mirrors tests/scenarios/test_endings.py, but nothing here
reaches into the server: outcomes are read from the API, waiting is polling with a deadline."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.e2e import gunicorn
from tests.shop import ancestors, first, short_type

pytestmark = pytest.mark.server

STYLES = ("choreography", "orchestration", "hybrid")
ADMIN = f"e2e-{uuid.uuid4().hex}"
HOME = "1 Main Street, Springfield"
TERMINAL = ("delivered", "cancelled")
OUTCOME_TIMEOUT = 20.0

# urllib would honour http_proxy and friends; the server is on loopback, so never use a proxy.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- HTTP ---------------------------------------------------------------------------------------
def call(method: str, url: str, body: Any = None, *, token: str | None = None,
         timeout: float = 10.0) -> tuple[int, Any]:
    """One request; returns (status, decoded JSON body or None). 4xx/5xx are returned, not
    raised."""
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, _decode(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, _decode(error.read())


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def poll(condition: Callable[[], Any], *, timeout: float, what: str) -> Any:
    return wait_for(condition, timeout=timeout, every=0.05, what=what)


# --- the server ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Server:
    url: str
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("e2e-server")
    env = gunicorn.environment(f"sqlite:///{folder / 'shop.db'}", ADMIN, gunicorn.free_port(),
                               ORDERFLOW_RETRY_BASE="PT0.2S")
    gunicorn.init(env)
    log = folder / "server.log"
    with gunicorn.running(env, log):
        url = f"http://127.0.0.1:{env['PORT']}"
        _, health = call("GET", f"{url}/healthz")
        assert health["dispatch"] == "background", health
        yield Server(url, log)


def new_item(server: Server, label: str, stock: int = 5, price: str = "9.90") -> str:
    """A fresh sku of this test's own, so tests sharing the server never share stock."""
    sku = f"e2e-{label}-{uuid.uuid4().hex[:8]}"
    status, body = call("PUT", f"{server.url}/api/catalog/{sku}",
                        {"name": f"e2e {label}", "price": price, "stock": stock}, token=ADMIN)
    assert status == 201, body
    assert body["available"] == stock
    return sku


def stock(server: Server, sku: str) -> int:
    status, body = call("GET", f"{server.url}/api/catalog")
    assert status == 200, body
    return next(item["available"] for item in body["items"] if item["sku"] == sku)


def place(server: Server, *, style: str, items: tuple[tuple[str, int], ...],
          token: str = "tok_ok", address: str = HOME) -> str:
    status, body = call("POST", f"{server.url}/api/orders", {
        "customer": {"id": "c-e2e", "name": "Ada Lovelace", "address": address},
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
        "payment": {"token": token}, "style": style})
    assert status == 202, body
    assert body["style"] == style, body  # the status may have moved on already: work goes on
    return body["id"]                     # in the background while the response is written


def order(server: Server, order_id: str) -> dict[str, Any]:
    status, body = call("GET", f"{server.url}/api/orders/{order_id}")
    assert status == 200, body
    return body


def timeline(server: Server, order_id: str) -> list[dict[str, Any]]:
    status, body = call("GET", f"{server.url}/api/orders/{order_id}/timeline")
    assert status == 200, body
    return body["messages"]


def short_types(messages: list[dict[str, Any]]) -> list[str]:
    return [short_type(message) for message in messages]


def settled(server: Server, order_id: str,
            timeout: float = OUTCOME_TIMEOUT) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Wait until the order has ended and every delivery on its timeline is done (compensation
    may still be running when the order already reads ``cancelled``); returns both."""
    deadline = time.monotonic() + timeout

    def ended() -> dict[str, Any] | None:
        current = order(server, order_id)
        return current if current["status"] in TERMINAL else None

    def quiet() -> list[dict[str, Any]] | None:
        messages = timeline(server, order_id)
        done = all(d["status"] == "done" for m in messages for d in m["deliveries"])
        return messages if done else None

    try:
        poll(ended, timeout=timeout, what=f"order {order_id} ending")
        messages = poll(quiet, timeout=max(deadline - time.monotonic(), 0.5),
                        what=f"order {order_id} deliveries all done")
    except AssertionError as error:
        now = timeline(server, order_id)
        pending = [(short, d["module"], d["status"], d["attempts"], d["last_error"])
                   for short, m in zip(short_types(now), now, strict=True)
                   for d in m["deliveries"] if d["status"] != "done"]
        raise AssertionError(f"{error}; order={order(server, order_id)}; "
                             f"not done: {pending}") from None
    return order(server, order_id), messages


# --- the endings --------------------------------------------------------------------------------
def test_the_server_dispatches_in_the_background(server: Server) -> None:
    status, health = call("GET", f"{server.url}/healthz")
    assert status == 200
    assert (health["status"], health["dispatch"]) == ("ok", "background")


@pytest.mark.parametrize("style", STYLES)
def test_happy_path_delivers(server: Server, style: str) -> None:
    sku = new_item(server, f"happy-{style[:5]}", stock=5, price="24.90")
    before = stock(server, sku)

    order_id = place(server, style=style, items=((sku, 2),))
    placed, messages = settled(server, order_id)

    assert (placed["status"], placed["reason"], placed["style"]) == ("delivered", None, style)
    assert placed["total"] == "49.80"
    assert stock(server, sku) == before - 2
    types = short_types(messages)
    assert types[0] == "OrderPlaced" and types[-1] == "OrderDelivered"
    assert {"PaymentReceived", "GoodsFetched", "GoodsShipped"} <= set(types)
    assert not {"PaymentRefunded", "GoodsReleased"} & set(types)


@pytest.mark.parametrize("style", STYLES)
def test_declined_payment_cancels_without_taking_stock(server: Server, style: str) -> None:
    sku = new_item(server, f"decline-{style[:5]}")
    before = stock(server, sku)

    order_id = place(server, style=style, items=((sku, 1),), token="tok_decline")
    placed, messages = settled(server, order_id)

    assert (placed["status"], placed["reason"]) == ("cancelled", "payment_declined")
    assert stock(server, sku) == before
    types = short_types(messages)
    assert "PaymentFailed" in types and types[-1] == "OrderCancelled"
    assert not {"GoodsFetched", "FetchGoods", "OrderReleased", "PaymentRefunded"} & set(types)


@pytest.mark.parametrize("style", STYLES)
def test_goods_unavailable_cancels_and_refunds(server: Server, style: str) -> None:
    sku = new_item(server, f"unavail-{style[:5]}")
    before = stock(server, sku)
    assert stock(server, "sku-none") == 0

    order_id = place(server, style=style, items=((sku, 1), ("sku-none", 1)))
    placed, messages = settled(server, order_id)

    assert (placed["status"], placed["reason"]) == ("cancelled", "out_of_stock")
    assert stock(server, sku) == before  # all or nothing: the available line went back
    assert stock(server, "sku-none") == 0
    types = short_types(messages)
    assert "PaymentRefunded" in types
    assert "GoodsShipped" not in types
    assert "GoodsUnavailable" in ancestors(messages, first(messages, "PaymentRefunded"))


@pytest.mark.parametrize("style", STYLES)
def test_undeliverable_parcel_is_released_and_refunded(server: Server, style: str) -> None:
    sku = new_item(server, f"undeliv-{style[:5]}")
    before = stock(server, sku)

    order_id = place(server, style=style, items=((sku, 3),), address="12 UNDELIVERABLE Road")
    placed, messages = settled(server, order_id)

    assert (placed["status"], placed["reason"]) == ("cancelled", "undeliverable")
    assert stock(server, sku) == before
    types = short_types(messages)
    assert "GoodsShipped" not in types
    for compensation in ("GoodsReleased", "PaymentRefunded"):
        assert compensation in types
        assert "ShipmentFailed" in ancestors(messages, first(messages, compensation))


@pytest.mark.parametrize("style", STYLES)
def test_flaky_provider_is_retried_in_the_background_then_delivered(server: Server,
                                                                    style: str) -> None:
    sku = new_item(server, f"flaky-{style[:5]}")
    before = stock(server, sku)

    order_id = place(server, style=style, items=((sku, 1),), token="tok_flaky")
    placed, messages = settled(server, order_id)

    assert (placed["status"], placed["reason"]) == ("delivered", None)
    assert stock(server, sku) == before - 1
    # the provider fails twice per charge, then succeeds: one payment delivery took 3 attempts
    retried = [(short, d["attempts"]) for short, m in zip(short_types(messages), messages,
                                                           strict=True)
               for d in m["deliveries"] if d["attempts"] > 1]
    assert [attempts for _, attempts in retried] == [3], retried
    assert all(d["module"] == "payment" for m in messages for d in m["deliveries"]
               if d["attempts"] > 1)
    assert short_types(messages).count("PaymentReceived") == 1


def test_thirty_concurrent_orders_in_mixed_styles_are_all_delivered(server: Server) -> None:
    skus = {style: new_item(server, f"many-{style[:5]}", stock=50) for style in STYLES}
    before = {style: stock(server, sku) for style, sku in skus.items()}
    styles = [STYLES[n % len(STYLES)] for n in range(30)]

    def one(style: str) -> tuple[str, str]:
        return style, place(server, style=style, items=((skus[style], 1),))

    with ThreadPoolExecutor(max_workers=10) as pool:
        placed = list(pool.map(one, styles))
    with ThreadPoolExecutor(max_workers=6) as pool:
        outcomes = list(pool.map(lambda p: (p[0], settled(server, p[1])[0]), placed))

    assert [(o["status"], o["reason"]) for _, o in outcomes] == [("delivered", None)] * 30, \
        [(o["id"], o["status"], o["reason"]) for _, o in outcomes]
    assert all(o["style"] == style for style, o in outcomes)
    for style, sku in skus.items():
        assert stock(server, sku) == before[style] - styles.count(style)


@pytest.mark.parametrize("style", STYLES)
def test_two_concurrent_orders_for_the_last_unit_one_gets_it(server: Server, style: str) -> None:
    sku = new_item(server, f"last-{style[:5]}", stock=1)

    with ThreadPoolExecutor(max_workers=2) as pool:
        order_ids = list(pool.map(lambda _: place(server, style=style, items=((sku, 1),)),
                                  range(2)))
        ended = sorted(pool.map(lambda o: settled(server, o), order_ids),
                       key=lambda pair: pair[0]["status"])

    assert [(o["status"], o["reason"]) for o, _ in ended] == [("cancelled", "out_of_stock"),
                                                              ("delivered", None)]
    assert stock(server, sku) == 0
    (_, loser), (_, winner) = ended
    assert "PaymentRefunded" in short_types(loser)  # the loser gets its money back
    assert "PaymentRefunded" not in short_types(winner)


# --- Idempotency-Key through the real server ----------------------------------------------------
def place_with_key(server: Server, body: dict[str, Any], key: str) -> tuple[int, bytes, str]:
    """(status, raw body, Location) of one POST /api/orders with an Idempotency-Key."""
    request = urllib.request.Request(f"{server.url}/api/orders", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json",
                                                             "Idempotency-Key": key})
    try:
        with _opener.open(request, timeout=30) as response:
            return response.status, response.read(), response.headers.get("Location", "")
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), ""


def test_racing_retries_with_one_key_make_one_order_on_the_server(server: Server) -> None:
    sku = new_item(server, "idem", stock=20)
    body = {"customer": {"id": "c-e2e", "name": "Ada Lovelace", "address": HOME},
            "items": [{"sku": sku, "quantity": 1}], "payment": {"token": "tok_ok"}}
    key = f"e2e-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: place_with_key(server, body, key), range(8)))

    assert {status for status, _, _ in answers} == {202}
    assert len({raw for _, raw, _ in answers}) == 1  # the same answer, byte for byte
    order_id = json.loads(answers[0][1])["id"]
    assert {location for _, _, location in answers} == {f"/api/orders/{order_id}"}
    placed, _ = settled(server, order_id)
    assert placed["status"] == "delivered"
    assert stock(server, sku) == 19  # one order, one unit off the shelf
