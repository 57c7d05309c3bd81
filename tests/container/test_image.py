"""The "Done when" of issue 10 for the image: build the Containerfile on a Debian base made
here, start it on a fresh volume, place an order over HTTP that reaches `delivered`, read
/readyz and /metrics, stop it with SIGTERM (exit 0, no delivery lost), start it again on the
same volume and find the order. The tests share one image, volume and story, in file order."""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator

import pytest

from tests.conftest import wait_for
from tests.container.conftest import volume_path
from tests.container.podman import IMAGE, Podman, Shop

pytestmark = pytest.mark.container

MAX_IMAGE_BYTES = 250 * 1000 * 1000
STOP_TIMEOUT = 10  # podman's and docker's default
ORDER = {"customer": {"id": "c-42", "name": "Ada Lovelace", "address": "1 Main Street"},
         "items": [{"sku": "sku-1", "quantity": 2}, {"sku": "sku-3", "quantity": 1}],
         "payment": {"token": "tok_ok"}}
SERIES = ["orderflow_messages_published_total", "orderflow_deliveries_total",
          "orderflow_delivery_duration_seconds", "orderflow_outbox_pending_messages",
          "orderflow_outbox_oldest_pending_age_seconds", "orderflow_dead_letter_messages",
          "orderflow_deadlines_due", "orderflow_orders", "orderflow_http_requests_total"]
placed: list[str] = []  # the orders of this story, across its tests


@pytest.fixture(scope="module")
def shop(podman: Podman, image: str, volume: str) -> Iterator[Shop]:
    running = Shop(podman, volume, admin_token=secrets.token_urlsafe(24))
    running.start()
    try:
        wait_for(running.answers, timeout=60, every=0.2, what="the container answers /healthz")
        yield running
    except AssertionError:
        print(running.logs())
        raise
    finally:
        running.remove()


def order(shop: Shop, order_id: str) -> dict:
    status, body = shop.request("GET", f"/api/orders/{order_id}")
    assert status == 200, body
    return json.loads(body)


def place(shop: Shop) -> str:
    status, body = shop.request("POST", "/api/orders", ORDER)
    assert status == 202, body
    order_id = json.loads(body)["id"]
    placed.append(order_id)
    return order_id


def test_the_image_is_small_runs_as_a_user_and_holds_no_dev_tools(podman: Podman,
                                                                  image: str) -> None:
    inspected = podman.inspect_image()
    config = inspected["Config"]
    print(f"image size: {inspected['Size'] / 1e6:.0f} MB")
    assert inspected["Size"] < MAX_IMAGE_BYTES
    assert config["User"] == "10001:10001"
    assert list(config["Volumes"]) == ["/data"]
    assert "8000/tcp" in config["ExposedPorts"]
    assert config["StopSignal"] == "SIGTERM"
    assert inspected["Healthcheck"]["Test"] == ["CMD", "orderflow-healthcheck"]
    assert {"ORDERFLOW_DATA_DIR=/data", "HOST=0.0.0.0", "PORT=8000",
            "ORDERFLOW_LOG_FORMAT=json"} <= set(config["Env"])
    probe = podman("run", "--rm", image, "python", "-c",
                   "import importlib.util as u, os; print(os.getuid(), [m for m in ("
                   "'pytest', 'playwright', 'ruff', 'pip', 'uv') if u.find_spec(m)])")
    assert probe.stdout.split(maxsplit=1) == ["10001", "[]\n"]


def test_an_order_placed_over_http_is_delivered(shop: Shop) -> None:
    order_id = place(shop)
    wait_for(lambda: order(shop, order_id)["status"] == "delivered", timeout=60,
             what=f"order {order_id} delivered")
    assert "admin token: from ORDERFLOW_ADMIN_TOKEN" in shop.logs()


def test_readyz_answers_200_and_so_does_the_healthcheck(podman: Podman, shop: Shop) -> None:
    status, body = shop.request("GET", "/readyz")  # needs /readyz (issue 10, part 2)
    assert status == 200, body
    check = podman("healthcheck", "run", shop.name, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


def test_metrics_serve_the_shop_series(shop: Shop) -> None:  # needs /metrics (part 3)
    status, body = shop.request("GET", "/metrics",
                                headers={"Authorization": f"Bearer {shop.admin_token}"})
    assert status == 200, body
    names = {line.split("{")[0].split(" ")[0] for line in body.splitlines()
             if line and not line.startswith("#")}
    missing = [name for name in SERIES
               if not any(found == name or found.startswith(f"{name}_") for found in names)]
    assert missing == []


def test_sigterm_stops_it_at_once_with_exit_0_and_loses_no_delivery(
        podman: Podman, shop: Shop, volume: str) -> None:
    for _ in range(5):  # deliveries in flight when the signal comes
        place(shop)
    started = time.monotonic()
    podman("stop", "--time", str(STOP_TIMEOUT), shop.name, timeout=STOP_TIMEOUT + 30)
    took = time.monotonic() - started
    state = shop.state()
    assert (state["Status"], state["ExitCode"]) == ("exited", 0), shop.logs()[-3000:]
    print(f"podman stop took {took:.1f} s")
    assert took < STOP_TIMEOUT, f"stopped after {took:.1f} s: killed, not drained"
    with sqlite3.connect(volume_path(podman, volume) / "orderflow.db") as database:
        claimed = database.execute("SELECT count(*) FROM bus_delivery "
                                   "WHERE claimed_by IS NOT NULL AND status = 'pending'"
                                   ).fetchone()[0]
    assert claimed == 0, "a stopped worker hands back what it claimed"


def test_started_again_on_the_same_volume_it_finds_the_orders_and_finishes_them(
        podman: Podman, shop: Shop, volume: str) -> None:
    shop.remove()
    shop.start()  # a new container, the same volume
    wait_for(shop.answers, timeout=60, every=0.2, what="the restarted container answers")
    assert order(shop, placed[0])["status"] == "delivered"
    for order_id in placed:
        wait_for(lambda order_id=order_id: order(shop, order_id)["status"] == "delivered",
                 timeout=60, what=f"order {order_id} delivered after the restart")
    podman("stop", "--time", str(STOP_TIMEOUT), shop.name, timeout=STOP_TIMEOUT + 30)
    with sqlite3.connect(volume_path(podman, volume) / "orderflow.db") as database:
        left = database.execute("SELECT status, count(*) FROM bus_delivery "
                                "WHERE status != 'done' GROUP BY status").fetchall()
    assert left == []
    assert shop.state()["ExitCode"] == 0


def test_an_argument_runs_instead_of_the_server(podman: Podman, volume: str) -> None:
    result = podman("run", "--rm", "--volume", f"{volume}:/data", IMAGE, "orderflow", "config")
    assert "ORDERFLOW_DATA_DIR" in result.stdout and "/data" in result.stdout


def test_without_a_token_setting_the_first_start_makes_one_and_says_it(
        podman: Podman, volume: str) -> None:
    said = [podman("run", "--rm", "--volume", f"{volume}:/data", IMAGE, "orderflow", "init"
                   ).stdout for _ in range(2)]
    shown = [[line.rsplit(": ", 1)[1] for line in text.splitlines()
              if line.startswith("admin token (stored in /data/admin_token): ")] for text in said]
    assert len(shown[0]) == 1 and shown[1] == [], said  # later starts keep it out of the logs
    assert "admin token: stored in /data/admin_token" in said[1]
    stored = (volume_path(podman, volume) / "admin_token").read_text().strip()
    assert shown[0][0] == stored
    assert (volume_path(podman, volume) / "admin_token").stat().st_mode & 0o077 == 0
