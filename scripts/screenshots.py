"""Screenshots of the dashboard for the README and the workshop: ``make screenshots``.

Starts a real gunicorn server on a throw-away SQLite file (quick retries, so a ``tok_outage``
payment is parked within seconds), logs in through the login form, places a few orders from the
place-an-order form in different styles and endings, waits for each to end (Playwright's
``expect``, no fixed sleeps), and saves PNGs, 1280 px wide, to ``docs/screenshots/``. Running it
again regenerates them. Needs Debian's ``/usr/bin/chromium``."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
WIDTH = 1280
TALLEST = 4000  # px; a longer page is cut here
START_TIMEOUT = 30.0  # s
OUTCOME_MS = 20_000
ADMIN = f"shots-{secrets.token_urlsafe(12)}"
SETTINGS = {"ORDERFLOW_DISPATCH": "background", "ORDERFLOW_RETRY_BASE": "PT0.2S",
            "ORDERFLOW_RETRY_FACTOR": "1", "ORDERFLOW_RETRY_MAX_ATTEMPTS": "3",
            "ORDERFLOW_ACCESS_LOG": "0", "WORKERS": "1", "THREADS": "8"}


@dataclass(frozen=True)
class Order:
    """One order placed from the form, and the status it must reach."""

    style: str
    flow: str
    token: str
    sku: str
    quantity: int
    ends: str
    name: str = "Ada Lovelace"
    vip: bool = False


DELIVERED = Order("hybrid", "sequential", "tok_ok", "sku-1", 2, "delivered")
PARALLEL = Order("orchestration", "parallel", "tok_ok", "sku-3", 1, "delivered",
                 name="Grace Hopper")
VIP = Order("choreography", "sequential", "tok_ok", "sku-2", 1, "delivered",
            name="Katherine Johnson", vip=True)
DECLINED = Order("orchestration", "sequential", "tok_decline", "sku-4", 1, "cancelled",
                 name="Alan Turing")
COMPENSATED = Order("orchestration", "sequential", "tok_ok", "sku-none", 1, "cancelled",
                    name="Edsger Dijkstra")
CLARIFY = Order("hybrid", "sequential", "tok_clarify", "sku-1", 1, "payment_clarification",
                name="Barbara Liskov")
OUTAGE = Order("choreography", "sequential", "tok_outage", "sku-3", 2, "placed",
               name="Donald Knuth")


# --- the server -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(folder: Path, port: int) -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items()
                 if not name.startswith("ORDERFLOW_") and name not in ("WORKERS", "THREADS")}
    return {**inherited, **SETTINGS, "ORDERFLOW_DATABASE_URL": f"sqlite:///{folder / 'shop.db'}",
            "ORDERFLOW_ADMIN_TOKEN": ADMIN, "HOST": "127.0.0.1", "PORT": str(port)}


def healthy(url: str) -> bool:
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with no_proxy.open(f"{url}/healthz", timeout=2) as answer:
            return answer.status == 200
    except (OSError, urllib.error.URLError):
        return False


def wait_until_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            sys.exit(f"the server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)  # polling a starting process, not waiting for an outcome


@contextmanager
def server(folder: Path) -> Iterator[str]:
    port = free_port()
    env = environment(folder, port)
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", "orderflow", "init"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    log = folder / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([str(BIN / "gunicorn"), "--config", "gunicorn.conf.py",
                                    "wsgi:app"], cwd=ROOT, env=env, stdout=sink,
                                   stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(process, f"http://127.0.0.1:{port}", log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


# --- the dashboard ----------------------------------------------------------------------------
def log_in(page: Page) -> None:
    page.goto("/login")
    page.locator("input[name=token]").fill(ADMIN)
    page.locator("input[name=token]").press("Enter")
    expect(page).not_to_have_url(re.compile(r"/login"))


def fill_order_form(page: Page, order: Order) -> None:
    form = page.locator("form#place-order")
    form.locator("select[name=style]").select_option(order.style)
    form.locator("select[name=flow]").select_option(order.flow)
    form.locator("input[name=customer_id]").fill(f"c-{order.name.split()[-1].lower()}")
    form.locator("input[name=customer_name]").fill(order.name)
    form.locator("input[name=address]").fill("1 Main Street, Springfield")
    form.locator("input[name=vip]").set_checked(order.vip)
    form.locator("select[name=sku]").first.select_option(order.sku)
    form.locator("input[name=quantity]").first.fill(str(order.quantity))
    form.locator("select[name=token]").select_option(order.token)


def place(page: Page, order: Order) -> str:
    """Place the order from the form and wait until it has reached its status."""
    page.goto("/orders/new")
    fill_order_form(page, order)
    page.get_by_role("button", name="Place order").click()
    expect(page).to_have_url(re.compile(r"/orders/ord_[^/]+$"))
    status = page.locator("#order-status")
    expect(status).to_have_attribute("data-status", order.ends, timeout=OUTCOME_MS)
    return page.url.rsplit("/", 1)[-1]


def wait_until_parked(page: Page) -> None:
    """The outage's payment gives up after its automatic retries: the order page (which
    refreshes itself) flags the order stuck, and the delivery is a dead letter."""
    expect(page.locator("#live .badge.stuck")).to_be_visible(timeout=OUTCOME_MS)


def link_to(page: Page, order_id: str) -> Locator:
    return page.locator(f'main a[href="/orders/{order_id}"]')


def shoot(page: Page, name: str, down_to: Locator | None = None) -> Path:
    """The whole page, or its top down to the end of ``down_to``; never over ``TALLEST`` px."""
    box = down_to.bounding_box() if down_to is not None else None
    bottom = box["y"] + box["height"] + 16 if box else page.evaluate(
        "document.documentElement.scrollHeight")
    height = min(int(bottom), TALLEST)
    path = OUT / f"{name}.png"
    page.screenshot(path=path, full_page=True, scale="css",
                    clip={"x": 0, "y": 0, "width": WIDTH, "height": height})
    return path


def show_order(page: Page, order_id: str) -> None:
    page.goto(f"/orders/{order_id}")
    expect(page.locator("#sequence svg")).to_be_visible()
    expect(page.locator("#timeline tr.message.compensation").first).to_be_visible()


def take_all(page: Page) -> list[Path]:
    for order in (DELIVERED, PARALLEL, VIP, DECLINED, CLARIFY):
        place(page, order)
    compensated = place(page, COMPENSATED)
    outage = place(page, OUTAGE)
    wait_until_parked(page)
    page.goto("/deadletters")
    expect(link_to(page, outage)).to_be_visible()
    shots = [shoot(page, "deadletters")]
    page.goto("/tasks")
    shots.append(shoot(page, "tasks"))
    page.goto("/")
    expect(link_to(page, compensated).first).to_be_visible()
    shots.append(shoot(page, "orders"))
    show_order(page, compensated)
    shots.append(shoot(page, "order-compensation"))
    return [*shots, *forms_and_wiring(page)]


def forms_and_wiring(page: Page) -> list[Path]:
    page.goto("/orders/new")
    fill_order_form(page, DELIVERED)
    page.locator("main h1").click()  # no focus ring in the picture
    shots = [shoot(page, "place-order")]
    page.goto("/wiring")
    first_style = page.locator("main section.style").first
    expect(first_style.locator("svg").first).to_be_visible()
    return [*shots, shoot(page, "wiring", down_to=first_style)]


def browse(browser: Browser, url: str) -> list[Path]:
    context = browser.new_context(base_url=url, viewport={"width": WIDTH, "height": 800})
    try:
        page = context.new_page()
        log_in(page)
        return take_all(page)
    finally:
        context.close()


def main() -> None:
    if not CHROMIUM.exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install chromium")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="orderflow-shots-") as folder, \
            server(Path(folder)) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for path in browse(browser, url):
            print(f"{path.relative_to(ROOT)}  {path.stat().st_size // 1024} KiB")
        browser.close()


if __name__ == "__main__":
    main()
