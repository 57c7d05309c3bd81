"""Browser tests: Playwright drives Debian's Chromium (``/usr/bin/chromium``, never a browser
Playwright downloads) against one real gunicorn server with background dispatch and a temp
SQLite file, shared by the whole browser session. Every test gets its own browser context, so
cookies never leak from one test into the next; the admin ones start from a login made once
through the /login form.

The retry policy is small and quick (three attempts, 0.1 s apart) so that a ``tok_outage``
payment is parked within a second or two; the simulated provider fails exactly as many attempts
as the policy makes, so the operator's retry is the one that gets through."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Route,
    StorageState,
    expect,
    sync_playwright,
)

from tests.e2e.conftest import log_tail
from tests.e2e.gunicorn import BIN, ROOT, START_TIMEOUT, free_port, healthy, stop
from tests.e2e.test_server import ADMIN

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ACTION_TIMEOUT_MS = 10_000
RETRY_MAX_ATTEMPTS = 3  # tok_flaky fails twice and still gets through; tok_outage is parked
SERVER_SETTINGS = {"ORDERFLOW_DISPATCH": "background", "ORDERFLOW_RETRY_BASE": "PT0.1S",
                   "ORDERFLOW_RETRY_FACTOR": "1",
                   "ORDERFLOW_RETRY_MAX_ATTEMPTS": str(RETRY_MAX_ATTEMPTS),
                   "WORKERS": "1",  # the simulated provider counts attempts per process
                   "THREADS": "8",  # pages poll every 2 s while tests call the API
                   "PYTHONUNBUFFERED": "1"}

expect.set_options(timeout=ACTION_TIMEOUT_MS)


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


@dataclass
class Tab:
    """One browser context's page, plus what it tried that a test should hear about."""
    page: Page
    errors: list[str] = field(default_factory=list)    # JavaScript errors, logged or thrown
    outside: list[str] = field(default_factory=list)   # requests that left the test server
    failures: list[str] = field(default_factory=list)  # the server's 5xx answers


# --- Chromium -----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def chromium() -> Path:
    """CI installs Debian's chromium (.ci/run), so there a missing one is a failure; a developer
    without it is told why the browser tests did not run."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must run the browser tests")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# --- the server ---------------------------------------------------------------------------------
def server_environment(folder: Path, port: int) -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items()
                 if not name.startswith("ORDERFLOW_") and name not in ("WORKERS", "THREADS")}
    return {**inherited, **SERVER_SETTINGS,
            "ORDERFLOW_DATABASE_URL": f"sqlite:///{folder / 'shop.db'}",
            "ORDERFLOW_ADMIN_TOKEN": ADMIN, "HOST": "127.0.0.1", "PORT": str(port)}


def initialise(env: dict[str, str]) -> None:
    init = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "orderflow", "init"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, f"orderflow init failed:\n{init.stdout}\n{init.stderr}"


def wait_until_healthy(process: subprocess.Popen[bytes], server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not healthy(server.url):
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_tail(server.log)}")
        if time.monotonic() > deadline:
            pytest.fail(f"/healthz did not answer 200 within {START_TIMEOUT}s:\n"
                        f"{log_tail(server.log)}")
        time.sleep(0.05)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("browser-server")
    port = free_port()
    env = server_environment(folder, port)
    initialise(env)
    started = Server(f"http://127.0.0.1:{port}", folder / "server.log")
    with started.log.open("wb") as sink:
        process = subprocess.Popen(
            [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(process, started)
        yield started
    finally:
        stop(process)


# --- pages --------------------------------------------------------------------------------------
def watch(context: BrowserContext, server: Server) -> Tab:
    """A page whose requests may only go to the test server (htmx and Mermaid are vendored: a
    CDN request is a bug), with its JavaScript errors and the server's 5xx answers recorded."""
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    tab = Tab(context.new_page())
    own = re.compile(rf"^{re.escape(server.url)}/")

    def refuse_outside(route: Route) -> None:
        tab.outside.append(route.request.url)
        route.abort()

    context.route(lambda url: not own.match(url), refuse_outside)
    context.on("response", lambda answer: answer.status >= 500 and tab.failures.append(
        f"{answer.status} {answer.request.method} {answer.url}"))
    tab.page.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.page.on("console", lambda note: note.type == "error" and tab.errors.append(note.text))
    return tab


@contextmanager
def opened_tab(browser: Browser, server: Server,
               storage_state: StorageState | None = None) -> Iterator[Tab]:
    context = browser.new_context(base_url=server.url, storage_state=storage_state)
    try:
        tab = watch(context, server)
        yield tab
        assert not tab.outside, f"the page asked for things off the server: {tab.outside}"
        assert not tab.failures, f"the server failed the browser: {tab.failures}"
    finally:
        context.close()


@pytest.fixture(scope="session")
def admin_login(browser: Browser, server: Server) -> StorageState:
    """Logged in once through the /login form; every admin test starts from that cookie, in a
    context of its own (a login is two page loads, each about a second with Mermaid)."""
    with opened_tab(browser, server) as tab:
        log_in(tab.page)
        return tab.page.context.storage_state()


@pytest.fixture
def tab(browser: Browser, server: Server) -> Iterator[Tab]:
    """A fresh browser context, not logged in."""
    with opened_tab(browser, server) as opened:
        yield opened


@pytest.fixture
def admin_tab(browser: Browser, server: Server, admin_login: StorageState) -> Iterator[Tab]:
    """A fresh browser context with the admin login."""
    with opened_tab(browser, server, admin_login) as opened:
        yield opened


@pytest.fixture
def page(tab: Tab) -> Page:
    return tab.page


@pytest.fixture
def admin(admin_tab: Tab) -> Page:
    return admin_tab.page


def log_in(page: Page, token: str = ADMIN) -> None:
    page.goto("/login")
    page.locator("input[name=token]").fill(token)
    page.locator("form").filter(has=page.locator("input[name=token]")).locator(
        "button, input[type=submit]").first.click()
    expect(page).not_to_have_url(re.compile(r"/login"))


# --- failure reports ----------------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing browser test reports the server's log, the page's address and JavaScript
    errors, and leaves a screenshot next to the server log."""
    report = yield
    if not (report.failed and report.when in ("setup", "call")):
        return report
    funcargs = getattr(item, "funcargs", {})
    server, tab = funcargs.get("server"), funcargs.get("tab") or funcargs.get("admin_tab")
    if isinstance(server, Server):
        report.sections.append(("server log", log_tail(server.log)))
    if isinstance(tab, Tab) and isinstance(server, Server):
        report.sections.append(("browser", describe(tab, server.log.parent, item.name)))
    return report


def describe(tab: Tab, folder: Path, name: str) -> str:
    shot = folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
    try:
        tab.page.screenshot(path=shot, full_page=True)
    except Exception as error:  # a report must not hide the real failure
        shot = Path(f"(no screenshot: {error})")
    return (f"url: {tab.page.url}\njavascript errors: {tab.errors}\n"
            f"server errors: {tab.failures}\nscreenshot: {shot}")
