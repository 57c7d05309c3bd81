"""Page render times with a million orders in the database: the dashboard's orders page
(first page, filtered, a deep keyset page) and order page, and their JSON API equivalents.

    python -m bench.pages [--orders 1000000] [--database .bench/million.db] [--rebuild]
                          [--samples 200] [--repeat 30] [--cold] [--output BENCHMARKS.md]
    python -m bench.pages --explain     # each page's SELECTs with SQLite's query plans

The database is made once by the fixture (``app.fixture``, as ``orderflow fixture`` does) and
reused from ``--database`` afterwards (migrated to the newest revision first; topped up with
``--append`` when it holds fewer orders than asked). The app runs on it with
``create_app(Settings(database_url=..., dispatch="inline", admin_token=...))``: no background
work, nothing but the requests. Each request goes through Flask's test client; its time is the
``Server-Timing: app;dur=`` header the app sets (the test client's wall time when a response
has none). Every answer is checked (status 200 and the element the page must have), so an
error page cannot pass for a fast page. BENCHMARKS.md explains method and results.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, func, select

from app import create_app, fixture, schema
from app.config import Settings
from app.db import make_engine
from app.modules.orders.models import Order
from bench.throughput import machine, source_state

ROOT = Path(__file__).resolve().parent.parent
DATABASE = ROOT / ".bench" / "million.db"
TOKEN = "bench-pages-admin-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
BUDGET_MS = 100.0
START, END = "<!-- bench:pages:start -->", "<!-- bench:pages:end -->"
KINDS = {  # the order page for orders of each kind, picked at random among them
    "delivered": Order.status == "delivered",
    "cancelled": Order.status == "cancelled",
    "waiting for the call centre": Order.status == "payment_clarification",
    "parked (stuck)": Order.status == "placed",
}


class BenchmarkError(RuntimeError):
    pass


# --- the database -------------------------------------------------------------------------------
@dataclass
class Built:
    """How the fixture database was made (kept beside it, so a reused one can say)."""

    orders: int
    seconds: float | None  # None: made elsewhere (orderflow fixture), time not known here
    size_bytes: int | None
    rows: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    made_at: str = ""


def ensure_database(path: Path, orders: int, rebuild: bool) -> Built:
    url = f"sqlite:///{path}"
    if rebuild:
        for stale in (path, *_companions(path), _notes(path)):
            stale.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    schema.upgrade(url)  # a reused database gets the newest revision (and its indexes) too
    present = _count_orders(url)
    if present < orders:
        if present:  # the notes describe the first load only: count the topped-up database
            _notes(path).unlink(missing_ok=True)
        _make(url, orders - present, append=present > 0, notes=_notes(path))
    if not _notes(path).exists():
        return _look_at(url, path, _count_orders(url))
    return Built(**json.loads(_notes(path).read_text()))


def _look_at(url: str, path: Path, orders: int) -> Built:
    """A database made by ``orderflow fixture`` (or topped up): count what it holds."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            statuses = connection.execute(select(Order.status, Order.reason, func.count())
                                          .group_by(Order.status, Order.reason)).all()
            rows = {table.name: connection.execute(select(func.count()).select_from(table))
                    .scalar_one() for table, _ in fixture.order_tables()}
    finally:
        engine.dispose()
    return Built(orders, None, fixture.database_size(engine), rows,
                 {f"{s} ({r})" if r else s: n for s, r, n in statuses})


def _make(url: str, count: int, *, append: bool, notes: Path) -> None:
    print(f"making {count:,} orders in {url} (once; reused afterwards) ...")
    with click.progressbar(length=count, label="orders", show_pos=True) as bar:
        report = fixture.fill(url, count, now=datetime.now(UTC), append=append, seed=1,
                              batch=5000, progress=bar.update)
    for line in fixture.describe(report):
        print(line)
    if append:  # the notes would describe the top-up only: the database is counted instead
        return
    built = Built(report.orders, report.seconds, report.size_bytes, dict(report.rows),
                  {f"{s} ({r})" if r else s: n for (s, r), n in report.statuses.items()},
                  time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    notes.write_text(json.dumps(asdict(built), indent=1))


def _notes(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _companions(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


def _count_orders(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return fixture.existing_orders(connection)
    finally:
        engine.dispose()


# --- measuring ----------------------------------------------------------------------------------
@dataclass
class Timing:
    page: str
    milliseconds: list[float] = field(default_factory=list)
    cpu_milliseconds: list[float] = field(default_factory=list)  # this process, test client too
    source: str = "Server-Timing"

    def percentile(self, share: float) -> float:
        ordered = sorted(self.milliseconds)
        return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.milliseconds)


SERVER_TIMING = re.compile(r"app;dur=([0-9.]+)")


Before = Callable[[], None]  # what to do before each timed request (nothing, or go cold)


def timed_get(client: FlaskClient, url: str, must_have: str, timing: Timing,
              headers: dict[str, str] | None = None, before: Before = lambda: None) -> str:
    """GET ``url``, check it answered 200 with ``must_have`` in it, record the server time."""
    before()
    started, cpu_started = time.perf_counter(), time.process_time()
    response = client.get(url, headers=headers)
    wall = (time.perf_counter() - started) * 1000
    timing.cpu_milliseconds.append((time.process_time() - cpu_started) * 1000)
    body = response.get_data(as_text=True)
    if response.status_code != 200 or must_have not in body:
        raise BenchmarkError(f"GET {url} answered {response.status_code} without "
                             f"{must_have!r}: {body[:300]}")
    header = SERVER_TIMING.search(response.headers.get("Server-Timing", ""))
    if header is None:
        timing.source = "test client wall time"
    timing.milliseconds.append(float(header.group(1)) if header else wall)
    return body


def logged_in_client(app: Flask) -> FlaskClient:
    """Logged in the way an operator is: the admin token into the login form."""
    client = app.test_client()
    form = client.get("/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    token = app.extensions["orderflow"].admin_token
    response = client.post("/login", data={"token": token, "csrf_token": csrf and csrf.group(1)})
    if response.status_code != 303:
        raise BenchmarkError(f"could not log in: {response.status_code}")
    return client


NEXT_PAGE = re.compile(r'<a id="next-page" href="([^"]+)"')
ORDER_ROW = 'class="order'


LIST_PAGES = {"first page": "/", "cancelled": "/?status=cancelled", "hybrid": "/?style=hybrid",
              "stuck": "/?stuck=on"}


def list_pages(client: FlaskClient, repeat: int, before: Before) -> Iterator[Timing]:
    for url in LIST_PAGES.values():
        timing = Timing(f"orders page `{url}`")
        for _ in range(repeat):
            timed_get(client, url, ORDER_ROW, timing, before=before)
        yield timing
    yield deep_page(client, repeat, before)


DEEP = 20  # pages: the 20th page of 50 orders


def deep_page(client: FlaskClient, repeat: int, before: Before) -> Timing:
    """Follow ``#next-page`` from the first page to the 20th, then time that page."""
    url = "/"
    for _ in range(DEEP - 1):
        body = timed_get(client, url, ORDER_ROW, Timing("walk"))
        found = NEXT_PAGE.search(body)
        if found is None:
            raise BenchmarkError(f"{url} has no #next-page link")
        url = found.group(1).replace("&amp;", "&")
    timing = Timing(f"orders page {DEEP} (`#next-page` followed {DEEP - 1} times)")
    for _ in range(repeat):
        timed_get(client, url, ORDER_ROW, timing, before=before)
    return timing


def api_lists(client: FlaskClient, repeat: int, before: Before) -> Iterator[Timing]:
    for query in ("", "?status=cancelled", "?style=hybrid", "?stuck=true"):
        timing = Timing(f"`GET /api/orders{query}`")
        for _ in range(repeat):
            timed_get(client, f"/api/orders{query}", '"items"', timing, BEARER, before)
        yield timing
    cursor = _deep_cursor(client)
    timing = Timing(f"`GET /api/orders?cursor=` (page {DEEP})")
    for _ in range(repeat):
        timed_get(client, f"/api/orders?cursor={cursor}", '"items"', timing, BEARER, before)
    yield timing


def _deep_cursor(client: FlaskClient) -> str:
    cursor = ""
    for _ in range(DEEP - 1):
        page = client.get(f"/api/orders?cursor={cursor}" if cursor else "/api/orders",
                          headers=BEARER).get_json()
        cursor = page["next_cursor"]
    return cursor


def sample_orders(engine: Engine, samples: int, rng: random.Random) -> dict[str, list[str]]:
    """Up to ``samples`` random orders of each kind."""
    picked = {}
    with engine.connect() as connection:
        for kind, condition in KINDS.items():
            ids = list(connection.execute(select(Order.id).where(condition)).scalars())
            picked[kind] = rng.sample(ids, min(samples, len(ids)))
    return picked


ORDER_PAGES: tuple[tuple[str, str, str, dict[str, str] | None], ...] = (
    ("order page `/orders/<id>`", "/orders/{}", 'id="timeline"', None),
    ("`GET /api/orders/<id>`", "/api/orders/{}", '"deadlines"', BEARER),
    ("`GET /api/orders/<id>/timeline`", "/api/orders/{}/timeline", '"messages"', BEARER),
)


def order_pages(client: FlaskClient, picked: dict[str, list[str]], before: Before
                ) -> Iterator[Timing]:
    for label, url, must_have, headers in ORDER_PAGES:
        for kind, ids in picked.items():
            timing = Timing(f"{label}, {kind}")
            for order_id in ids:
                timed_get(client, url.format(order_id), must_have, timing, headers, before)
            yield timing


def warm_up(client: FlaskClient, picked: dict[str, list[str]]) -> None:
    """One untimed request of each page: templates compiled, statements cached."""
    some = next(ids[0] for ids in picked.values() if ids)
    timed_get(client, "/", ORDER_ROW, Timing("warm-up"))
    for _, url, must_have, headers in ORDER_PAGES:
        timed_get(client, url.format(some), must_have, Timing("warm-up"), headers)


def measure(path: Path, samples: int, repeat: int, cold: bool) -> list[Timing]:
    app = create_app(Settings(database_url=f"sqlite:///{path}", dispatch="inline",
                              admin_token=TOKEN))
    runtime = app.extensions["orderflow"]
    try:
        client = logged_in_client(app)
        picked = sample_orders(runtime.bus.db.engine, samples, random.Random(7))
        warm_up(client, picked)
        before = going_cold(path, runtime.bus.db.engine) if cold else lambda: None
        return [*list_pages(client, repeat, before), *api_lists(client, repeat, before),
                *order_pages(client, picked, before)]
    finally:
        runtime.close()


def going_cold(path: Path, engine: Engine) -> Before:
    """Before each request: the database file out of the operating system's page cache and
    the app's connections closed (SQLite's own page cache with them), as after a restart."""
    def cold() -> None:
        engine.dispose()
        for file in (path, *_companions(path)):
            if file.exists():
                descriptor = os.open(file, os.O_RDONLY)
                try:
                    os.fsync(descriptor)
                    os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
                finally:
                    os.close(descriptor)
    return cold


# --- query plans --------------------------------------------------------------------------------
def explain(url: str, picked_kind: str = "waiting for the call centre") -> Iterator[str]:
    """Each SELECT that one request of each page runs, with SQLite's plan for it."""
    app = create_app(Settings(database_url=url, dispatch="inline", admin_token=TOKEN))
    engine = app.extensions["orderflow"].bus.db.engine
    ran: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def _keep(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("SELECT"):
            ran.append((statement, parameters))

    try:
        client = logged_in_client(app)
        order_id = sample_orders(engine, 1, random.Random(7))[picked_kind][0]
        for url_path in (*LIST_PAGES.values(), f"/orders/{order_id}"):
            ran.clear()
            client.get(url_path)
            yield f"\n### GET {url_path}"
            yield from _plans(engine, list(ran))
    finally:
        app.extensions["orderflow"].close()


def _plans(engine: Engine, statements: list[tuple[str, Any]]) -> Iterator[str]:
    with engine.connect() as connection:
        for statement, parameters in statements:
            yield "\n    " + " ".join(statement.split())[:160] + " ..."
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            yield from (f"        {row[3]}" for row in plan)


# --- the report ---------------------------------------------------------------------------------
def results_table(timings: list[Timing]) -> list[str]:
    rows = ["| page | requests | p50 ms | p95 ms | max ms | CPU ms p50 | under 100 ms (p95) |",
            "|---|---:|---:|---:|---:|---:|:---:|"]
    for t in timings:
        if not t.milliseconds:
            rows.append(f"| {t.page} | 0 | | | | | none of this kind |")
            continue
        verdict = "yes" if t.percentile(0.95) < BUDGET_MS else "**no**"
        rows.append(f"| {t.page} | {len(t.milliseconds)} | {t.p50:.1f} "
                    f"| {t.percentile(0.95):.1f} | {max(t.milliseconds):.1f} "
                    f"| {statistics.median(t.cpu_milliseconds):.1f} | {verdict} |")
    return rows


def database_line(built: Built, orders_now: int) -> str:
    size = f"{built.size_bytes / 2**30:.1f} GiB" if built.size_bytes else "size unknown"
    mix = ", ".join(f"{name} {n:,}" for name, n in sorted(built.statuses.items(),
                                                          key=lambda item: -item[1]))
    rows = sum(built.rows.values())
    made = (f"made by the fixture in {built.seconds / 60:.1f} minutes ({built.made_at})"
            if built.seconds is not None else "made by `orderflow fixture`")
    return (f"Database: {orders_now:,} orders, {rows:,} rows in all, {size} (SQLite file), "
            f"{made}; mix: {mix}.")


def report(timings: list[Timing], built: Built, orders_now: int,
           options: argparse.Namespace) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    sources = sorted({t.source for t in timings})
    return "\n".join([
        f"Run of {when}: `python -m bench.pages --samples {options.samples} "
        f"--repeat {options.repeat}{' --cold' if options.cold else ''}`; times are "
        f"{' and '.join(sources)}"
        + ("; every request started cold (database file dropped from the OS page cache, "
           "connections closed)." if options.cold else ", warm caches."),
        "",
        database_line(built, orders_now),
        "",
        f"Machine: {machine()}; {source_state()}.",
        "",
        *results_table(timings),
    ])


def markers(cold: bool) -> tuple[str, str]:
    return (START.replace("pages", "pages-cold"), END.replace("pages", "pages-cold")) if cold \
        else (START, END)


def write_into(target: Path, text: str, cold: bool = False) -> None:
    start, end = markers(cold)
    document = target.read_text()
    if start not in document or end not in document:
        raise BenchmarkError(f"{target} has no {start} ... {end} markers")
    before, rest = document.split(start, 1)
    _, after = rest.split(end, 1)
    target.write_text(f"{before}{start}\n{text}\n{end}{after}")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.split(
        "\n\n")[0])
    parser.add_argument("--orders", type=_positive, default=1_000_000)
    parser.add_argument("--database", type=Path, default=DATABASE)
    parser.add_argument("--rebuild", action="store_true", help="make the database anew")
    parser.add_argument("--samples", type=_positive, default=200,
                        help="random orders of each kind for the order pages")
    parser.add_argument("--repeat", type=_positive, default=30,
                        help="requests of each list page")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file")
    parser.add_argument("--cold", action="store_true",
                        help="every request starts with the database out of the OS page cache")
    parser.add_argument("--explain", action="store_true",
                        help="print the query plans of each page instead of timing them")
    return parser.parse_args(argv)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None, echo: Callable[[str], None] = print) -> int:
    options = arguments(argv)
    built = ensure_database(options.database, options.orders, options.rebuild)
    url = f"sqlite:///{options.database}"
    if options.explain:
        for line in explain(url):
            echo(line)
        return 0
    timings = measure(options.database, options.samples, options.repeat, options.cold)
    text = report(timings, built, _count_orders(url), options)
    echo(text)
    if options.output:
        write_into(options.output, text, options.cold)
        echo(f"\nwritten into {options.output}")
    slow = [t.page for t in timings if t.milliseconds and t.percentile(0.95) >= BUDGET_MS]
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
