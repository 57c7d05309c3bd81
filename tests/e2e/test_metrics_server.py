"""/metrics and /readyz of a real gunicorn server with two workers: the counters add up over
both workers whichever one answers the scrape, the gauges come from the database, and the JSON
log lines of one order share its trace id from the request to the last delivery."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import wait_for
from tests.e2e import gunicorn
from tests.e2e.test_server import (
    ADMIN,
    Server,
    _opener,
    call,
    new_item,
    place,
    settled,
)

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    folder = tmp_path_factory.mktemp("metrics-server")
    metrics = folder / "prometheus"
    metrics.mkdir()
    (metrics / "counter_1.db").write_bytes(b"left by an earlier run")  # must be cleaned away
    env = gunicorn.environment(f"sqlite:///{folder / 'shop.db'}", ADMIN, gunicorn.free_port(),
                               ORDERFLOW_LOG_FORMAT="json", PROMETHEUS_MULTIPROC_DIR=str(metrics),
                               WORKERS="2", THREADS="4")
    gunicorn.init(env)
    log = folder / "server.log"
    with gunicorn.running(env, log, ready=lambda url: gunicorn.status_of(f"{url}/readyz") == 200):
        yield Server(f"http://127.0.0.1:{env['PORT']}", log), metrics


def scrape(server: Server) -> dict[tuple, float]:
    request = urllib.request.Request(f"{server.url}/metrics",
                                     headers={"Authorization": f"Bearer {ADMIN}"})
    with _opener.open(request, timeout=10) as response:
        assert response.status == 200
        text = response.read().decode()
    return {(sample.name, *sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def total(seen: dict[tuple, float], name: str, **labels: str) -> float:
    return sum(value for (sample, *pairs), value in seen.items()
               if sample == name and set(labels.items()) <= set(pairs))


def writers(metrics: Path) -> set[str]:
    """The processes (gunicorn workers) that wrote counters."""
    return {path.stem.rsplit("_", 1)[1] for path in metrics.glob("counter_*.db")}


def test_counts_add_up_over_both_workers(two_workers: tuple[Server, Path]) -> None:
    server, metrics = two_workers
    assert "1" not in writers(metrics)  # the stale file of an "earlier run" was removed
    sku = new_item(server, "metrics", stock=200)
    orders: list[str] = []

    def place_some(count: int = 6) -> bool:
        with ThreadPoolExecutor(max_workers=6) as pool:
            orders.extend(pool.map(lambda _: place(server, style="hybrid",
                                                   items=((sku, 1),)), range(count)))
        return len(writers(metrics)) >= 2 or len(orders) >= 60

    wait_for(place_some, timeout=60, what="both workers took orders")
    timelines = [settled(server, order_id)[1] for order_id in orders]

    assert len(writers(metrics)) == 2, "one worker took every order; the sum proves nothing"
    messages = sum(len(timeline) for timeline in timelines)
    done = sum(1 for timeline in timelines for message in timeline
               for delivery in message["deliveries"] if delivery["status"] == "done")
    for _ in range(4):  # whichever worker answers, the same sums
        seen = scrape(server)
        assert total(seen, "orderflow_http_requests_total", method="POST",
                     route="/api/orders", status="202") == len(orders)
        assert total(seen, "orderflow_messages_published_total") == messages
        assert total(seen, "orderflow_deliveries_total", outcome="done") == done
        assert total(seen, "orderflow_delivery_duration_seconds_count") >= done
        assert total(seen, "orderflow_orders", status="delivered") == len(orders)
        assert total(seen, "orderflow_outbox_pending_messages") == 0
        assert total(seen, "orderflow_dead_letter_messages") == 0


def test_metrics_without_a_token_is_a_401(two_workers: tuple[Server, Path]) -> None:
    server, _ = two_workers

    status, body = call("GET", f"{server.url}/metrics")

    assert status == 401 and body["code"] == "unauthorized"


def test_ready_with_both_workers_dispatching(two_workers: tuple[Server, Path]) -> None:
    server, _ = two_workers

    status, body = call("GET", f"{server.url}/readyz")

    assert (status, body["status"]) == (200, "ready"), body
    assert body["checks"]["dispatcher"]["mode"] == "background"


def test_the_json_log_follows_one_order_by_its_trace_id(two_workers: tuple[Server, Path]
                                                        ) -> None:
    server, _ = two_workers
    order_id = place(server, style="choreography", items=((new_item(server, "log"), 1),))
    _, timeline = settled(server, order_id)
    deliveries = sum(len(message["deliveries"]) for message in timeline)

    def lines() -> list[dict]:
        found = []
        for raw in server.log.read_text(errors="replace").splitlines():
            try:
                found.append(json.loads(raw))
            except ValueError:
                continue
        return found

    of_order = wait_for(lambda: (found := [line for line in lines()
                                           if line.get("flow_id") == order_id])
                        and len(found) >= deliveries and found, what="the delivery lines")
    (trace_id,) = {line["trace_id"] for line in of_order}
    (request,) = [line for line in lines() if line.get("logger") == "orderflow.http"
                  and line.get("trace_id") == trace_id]
    assert (request["method"], request["route"], request["status"]) == (
        "POST", "/api/orders", 202)
    assert request["request_id"]
