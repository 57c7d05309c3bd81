"""Throughput: orders carried from placed to ``delivered`` per second, per collaboration style,
with inline dispatch on a SQLite file, beside the floor (``bench.floor``): the same business
writes by direct function calls, one transaction per step, no message log, no delivery records.

    python -m bench.throughput [--orders 300] [--warmup 20] [--repeat 3]
                               [--http hybrid] [--output BENCHMARKS.md]
    python -m bench.throughput --profile hybrid [--orders 300]

Every variant runs on a fresh SQLite file (``app.db.make_engine``: WAL, synchronous=NORMAL,
BEGIN IMMEDIATE), migrated with the app's Alembic history. Variants are interleaved across
repeats; the best and the median round are reported. A run fails loudly unless every order it
placed ended ``delivered`` and every delivery record is done. A separate, untimed pass counts
the transactions and SQL statements per order. BENCHMARKS.md explains method and results.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy
from flask import Flask
from sqlalchemy import Engine, event, func, select, update
from sqlmodel import col

from app import create_app, schema
from app.bus.log import DONE, DeliveryRecord, MessageRecord
from app.clock import SystemClock
from app.config import STYLES, Settings
from app.db import Database, make_engine
from app.modules.inventory.demo import load_demo_catalogue
from app.modules.inventory.models import Item
from app.modules.orders import service
from app.modules.orders.models import DELIVERED, Order
from app.modules.payment.models import Payment
from app.modules.payment.provider import SimulatedPaymentProvider
from app.modules.shipping.carrier import SimulatedCarrier
from app.modules.shipping.models import Shipment
from bench.floor import Floor

NEVER_TRIPS = "1000000 per second"
ITEMS = (("sku-1", 1), ("sku-3", 2))  # two lines: two conditional stock UPDATEs per order
REQUEST = service.PlaceOrder(
    customer=service.Customer(id="c-bench", name="Ada Bench", address="1 Main Street"),
    items=ITEMS, payment_token="tok_ok")
STOCK = 10**9
FLOOR = "floor"
COUNTED_ORDERS, COUNTING_WARMUP = 20, 5
ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


# --- shops: one fresh database each, and a way to carry one order to the end -------------------
class Shop:
    """A fresh SQLite file with the schema and a well-stocked demo catalogue."""

    name: str
    engine: Engine

    def order(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.engine.dispose()


class BusShop(Shop):
    """The app with inline dispatch: ``commit`` of the placing unit of work runs the whole flow
    to ``delivered`` before it returns. Orders are placed through the service layer as the HTTP
    API does, or through the Flask test client (``http=True``)."""

    def __init__(self, url: str, style: str, http: bool) -> None:
        self.style, self.http = style, http
        self.name = f"{style} via HTTP" if http else style
        # limits so high they never trip, but checked on every request as in a shop
        self.app: Flask = create_app(Settings(dispatch="inline", database_url=url, style=style,
                                              rate_limit_intake=NEVER_TRIPS))
        self.runtime = self.app.extensions["orderflow"]
        self.bus = self.runtime.bus
        self.engine = self.bus.db.engine
        self.client = self.app.test_client()
        stock_up(self.bus.db)

    def order(self) -> None:
        if self.http:
            self._post()
        else:
            self._place()

    def _place(self) -> None:
        with self.bus.unit_of_work(style=self.style, module="orders") as uow:
            service.place(uow, REQUEST)
            uow.commit()

    def _post(self) -> None:
        response = self.client.post("/api/orders", json={
            "customer": {"id": "c-bench", "name": "Ada Bench", "address": "1 Main Street"},
            "items": [{"sku": sku, "quantity": quantity} for sku, quantity in ITEMS],
            "payment": {"token": "tok_ok"}, "style": self.style})
        if response.status_code != 202:
            raise BenchmarkError(f"POST /api/orders answered {response.status_code}")

    def close(self) -> None:
        self.runtime.close()


class FloorShop(Shop):
    name = FLOOR

    def __init__(self, url: str) -> None:
        db = Database(make_engine(url))
        self.engine = db.engine
        stock_up(db)
        self.floor = Floor(db, SystemClock(), SimulatedPaymentProvider(db),
                           SimulatedCarrier(db))

    def order(self) -> None:
        self.floor.fulfil(REQUEST)


def stock_up(db: Database) -> None:
    with db.session() as session:
        load_demo_catalogue(session, SystemClock().now())
        session.execute(update(Item).values(stock=STOCK))
        session.commit()


@contextmanager
def open_shop(variant: str, workdir: str | None) -> Iterator[Shop]:
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-", dir=workdir) as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        schema.upgrade(url)
        shop: Shop
        if variant == FLOOR:
            shop = FloorShop(url)
        else:
            style, _, via = variant.partition(" ")
            shop = BusShop(url, style, http=via == "via HTTP")
        try:
            yield shop
        finally:
            shop.close()


# --- checking that every order really arrived -------------------------------------------------
class BenchmarkError(AssertionError):
    pass


def verify(shop: Shop, placed: int) -> None:
    with shop.engine.connect() as connection:
        def count(statement) -> int:  # type: ignore[no-untyped-def]
            return connection.execute(statement).scalar_one()

        orders = count(select(func.count()).select_from(Order))
        delivered = count(select(func.count()).where(col(Order.status) == DELIVERED))
        payments = count(select(func.count()).select_from(Payment))
        shipments = count(select(func.count()).select_from(Shipment))
        open_deliveries = count(select(func.count()).where(col(DeliveryRecord.status) != DONE))
        logged = count(select(func.count()).select_from(MessageRecord))
    found = (orders, delivered, payments, shipments, open_deliveries)
    if found != (placed, placed, placed, placed, 0) or (logged == 0) != (shop.name == FLOOR):
        raise BenchmarkError(
            f"{shop.name}: placed {placed} orders but found {orders} orders, {delivered} "
            f"delivered, {payments} payments, {shipments} shipments, {open_deliveries} "
            f"deliveries not done, {logged} messages logged")


# --- timing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    wall: float  # orders per second of wall-clock time
    cpu: float  # orders per second of this process's CPU time (less sensitive to a busy machine)


def timed_run(variant: str, orders: int, warmup: int, workdir: str | None) -> Run:
    """``orders`` timed orders after ``warmup`` untimed ones, on a fresh database."""
    with open_shop(variant, workdir) as shop:
        for _ in range(warmup):
            shop.order()
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(orders):
            shop.order()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        verify(shop, warmup + orders)
    return Run(orders / wall, orders / cpu)


def measure(variants: list[str], options: argparse.Namespace) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {variant: [] for variant in variants}
    for round_ in range(1, options.repeat + 1):
        for variant in variants:  # interleaved, so that drift hits every variant alike
            run = timed_run(variant, options.orders, options.warmup, options.workdir)
            runs[variant].append(run)
            progress(f"round {round_}/{options.repeat}  {variant:<20} {run.wall:7.1f} orders/s"
                     f"  ({run.cpu:.1f} per CPU-second)")
    return runs


# --- counting transactions and statements -----------------------------------------------------
def statement_kind(sql: str) -> str:
    """``INSERT bus_message``, ``SELECT orders_order``, ``UPDATE bus_delivery SET status``,
    ``SELECT bus_delivery JOIN bus_message``, ``SELECT bus_delivery (exists?)`` (a select of no
    columns, only to see whether a row is there), ``BEGIN IMMEDIATE``, ``SAVEPOINT``..."""
    words = re.findall(r"\(|\)|[\w.\"=]+", sql)
    verb = words[0].upper()
    if verb == "BEGIN":
        return " ".join(words[:2]).upper()
    if verb in ("INSERT", "UPDATE"):
        table = unquoted(words[2] if verb == "INSERT" else words[1])
        setting = f" SET {words[3].split('=')[0]}" if verb == "UPDATE" else ""
        return f"{verb} {table}{setting}"
    if verb != "SELECT":
        return verb
    top = top_level_words(words)
    keywords = [word.upper() for word in top]
    table = unquoted(top[keywords.index("FROM") + 1])
    joined = f" JOIN {unquoted(top[keywords.index('JOIN') + 1])}" if "JOIN" in keywords else ""
    columns = top[1:keywords.index("FROM")]
    literal = all(word.upper() == "AS" or word.startswith("anon_") or word.isdigit()
                  for word in columns)
    probe = " (exists?)" if literal else ""
    return f"SELECT {table}{joined}{probe}"


def unquoted(name: str) -> str:
    return name.strip('"')


def top_level_words(words: list[str]) -> list[str]:
    """The words outside parentheses: subqueries dropped."""
    depth, top = 0, []
    for word in words:
        depth += {"(": 1, ")": -1}.get(word, 0)
        if depth == 0 and word not in "()":
            top.append(word)
    return top


@dataclass
class Tally:
    kinds: Counter[str] = field(default_factory=Counter)
    in_sqlite: float = 0.0  # seconds inside the driver: cursor.execute and connection.commit


@contextmanager
def counting(engine: Engine) -> Iterator[Tally]:
    """Count statements by kind, and time what SQLite itself takes (execute and commit)."""
    tally, started = Tally(), [0.0]
    dialect, commit = engine.dialect, engine.dialect.do_commit

    def before(_conn, _cursor, statement, _parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        tally.kinds[statement_kind(statement)] += 1
        started[0] = time.perf_counter()

    def after(*_args) -> None:  # type: ignore[no-untyped-def]
        tally.in_sqlite += time.perf_counter() - started[0]

    def timed_commit(dbapi_connection) -> None:  # type: ignore[no-untyped-def]
        begun = time.perf_counter()
        commit(dbapi_connection)
        tally.in_sqlite += time.perf_counter() - begun

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    dialect.do_commit = timed_commit  # type: ignore[method-assign]
    try:
        yield tally
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        del dialect.do_commit  # back to the class's method


@dataclass(frozen=True)
class Counts:
    kinds: dict[str, float]  # statements of each kind per order
    sqlite_ms: float  # per order, inside SQLite
    wall_ms: float  # per order, while counting (the listeners slow it down a little)


def count_per_order(variant: str, warmup: int, workdir: str | None) -> Counts:
    with open_shop(variant, workdir) as shop:
        for _ in range(warmup):
            shop.order()
        with counting(shop.engine) as tally:
            wall = time.perf_counter()
            for _ in range(COUNTED_ORDERS):
                shop.order()
            wall = time.perf_counter() - wall
        verify(shop, warmup + COUNTED_ORDERS)
    return Counts({kind: n / COUNTED_ORDERS for kind, n in tally.kinds.items()},
                  1000 * tally.in_sqlite / COUNTED_ORDERS, 1000 * wall / COUNTED_ORDERS)


def category(kind: str) -> str:
    verb, _, rest = kind.partition(" ")
    if verb == "BEGIN":
        return "transactions"
    if verb in ("SAVEPOINT", "RELEASE"):
        return "savepoints"
    where = "bus_* tables" if rest.startswith("bus_") else "module tables"
    return f"{where}: {'reads' if verb == 'SELECT' else 'writes'}"


CATEGORIES = ("module tables: writes", "module tables: reads", "savepoints",
              "bus_* tables: writes", "bus_* tables: reads")


# --- the report ---------------------------------------------------------------------------------
def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if "model name" in line),
               platform.processor() or "unknown CPU")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.machine()}, "
            f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
            f"SQLAlchemy {sqlalchemy.__version__}; load average {load} at the end of the run")


def source_state() -> str:
    """The commit measured, and which files under app/ differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout
    try:
        head, changed = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "app")
    except (OSError, subprocess.CalledProcessError):
        return "source: not a git checkout"
    files = [line[3:] for line in changed.splitlines() if line.endswith(".py")]
    head = head.strip()
    return f"source: commit {head}" + (f" plus uncommitted changes to {', '.join(files)}"
                                       if files else "")


def _cpuinfo() -> list[str]:
    path = Path("/proc/cpuinfo")
    return path.read_text().splitlines() if path.exists() else []


def results_table(runs: dict[str, list[Run]]) -> list[str]:
    """Best rounds first: other work on the machine only ever slows a round down."""
    def best(variant: str) -> float:
        return max(run.wall for run in runs[variant])

    def median(variant: str) -> float:
        return statistics.median(run.wall for run in runs[variant])

    def best_cpu(variant: str) -> float:
        return max(run.cpu for run in runs[variant])

    rows = ["| variant | orders/s (best) | median | ms per order (best) "
            "| orders per CPU-second (best) | bus / floor (best) | bus / floor (median) |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for variant in runs:
        label = "floor (direct calls)" if variant == FLOOR else variant
        rows.append(f"| {label} | {best(variant):.1f} | {median(variant):.1f} "
                    f"| {1000 / best(variant):.2f} | {best_cpu(variant):.1f} "
                    f"| **{best(variant) / best(FLOOR):.2f}** "
                    f"| {median(variant) / median(FLOOR):.2f} |")
    return rows


def counts_table(counts: dict[str, Counts]) -> list[str]:
    variants = list(counts)
    kinds = sorted({kind for per in counts.values() for kind in per.kinds}, key=_kind_order)
    rows = [f"| per order | {' | '.join(variants)} |", "|---" + "|---:" * len(variants) + "|"]

    def row(label: str, value: Callable[[Counts], float], fmt: str = "g") -> str:
        return f"| {label} | " + " | ".join(f"{value(counts[v]):{fmt}}" for v in variants) + " |"

    def total(wanted: Callable[[str], bool]) -> Callable[[Counts], float]:
        return lambda c: sum(n for kind, n in c.kinds.items() if wanted(category(kind)))

    rows.append(row("**transactions**", total(lambda cat: cat == "transactions")))
    rows.append(row("**statements** (without BEGIN)", total(lambda cat: cat != "transactions")))
    rows.extend(row(f"&nbsp;&nbsp;{name}", total(lambda cat, name=name: cat == name))
                for name in CATEGORIES)
    rows.append(row("ms inside SQLite (execute + commit)", lambda c: c.sqlite_ms, ".2f"))
    rows.append(row("ms in all, while counting", lambda c: c.wall_ms, ".2f"))
    rows.extend(row(f"`{kind}`", lambda c, kind=kind: c.kinds.get(kind, 0)) for kind in kinds)
    return rows


def _kind_order(kind: str) -> tuple[int, str, str]:
    verb, _, rest = kind.partition(" ")
    group = {"BEGIN": 0, "SAVEPOINT": 1, "RELEASE": 1}.get(verb, 3 if "bus_" in rest else 2)
    return group, rest, verb


def report(runs: dict[str, list[Run]], counts: dict[str, Counts],
           options: argparse.Namespace) -> str:
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return "\n".join([
        f"Run of {when}: `python -m bench.throughput --orders {options.orders} "
        f"--warmup {options.warmup} --repeat {options.repeat} --styles {' '.join(options.styles)} "
        f"--http {' '.join(options.http)}`: {options.orders} timed orders "
        f"per variant after {options.warmup} warm-up orders, each on a fresh SQLite file, "
        f"best and median of {options.repeat} interleaved rounds.",
        "",
        f"Machine: {machine()}; {source_state()}.",
        "",
        *results_table(runs),
        "",
        f"Transactions and SQL statements per order (counted over {COUNTED_ORDERS} orders "
        "with a `before_cursor_execute` listener; an `executemany` counts once; COMMIT is not "
        "a statement, there is one per transaction):",
        "",
        *counts_table(counts),
    ])


def write_section(path: Path, text: str) -> None:
    """Replace what lies between the result markers in ``path`` (or append the section)."""
    section = f"{START}\n{text}\n{END}"
    old = path.read_text() if path.exists() else ""
    if START in old and END in old:
        before, rest = old.split(START, 1)
        new = before + section + rest.split(END, 1)[1]
    else:
        new = (old.rstrip() + "\n\n" if old else "") + section + "\n"
    path.write_text(new)


# --- the command --------------------------------------------------------------------------------
def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=300, help="timed orders per variant")
    parser.add_argument("--warmup", type=int, default=20, help="untimed orders first")
    parser.add_argument("--repeat", type=int, default=3,
                        help="interleaved rounds; the best and the median are reported")
    parser.add_argument("--styles", nargs="+", choices=STYLES, default=list(STYLES))
    parser.add_argument("--http", nargs="*", choices=STYLES, default=["hybrid"],
                        help="styles also measured through the Flask test client "
                             "(default: hybrid; none with a bare --http)")
    parser.add_argument("--profile", metavar="VARIANT",
                        choices=[FLOOR, *STYLES, *(f"{style} via HTTP" for style in STYLES)],
                        help="instead of timing, profile one variant with cProfile")
    parser.add_argument("--workdir", help="where the temporary SQLite files go")
    parser.add_argument("--output", type=Path,
                        help="write the results into this Markdown file, between the markers")
    options = parser.parse_args(argv)
    if min(options.orders, options.repeat) < 1 or options.warmup < 0:
        parser.error("--orders and --repeat must be at least 1, --warmup at least 0")
    return options


def profile(variant: str, options: argparse.Namespace) -> None:
    """Where one variant's time goes: cProfile over ``--orders`` orders, by cumulative time."""
    with open_shop(variant, options.workdir) as shop:
        for _ in range(options.warmup):
            shop.order()
        profiler = cProfile.Profile()
        for _ in range(options.orders):
            profiler.runcall(shop.order)
        verify(shop, options.warmup + options.orders)
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(40)


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    if options.profile:
        profile(options.profile, options)
        return 0
    variants = [FLOOR, *options.styles, *(f"{style} via HTTP" for style in options.http)]
    progress(f"timing {', '.join(variants)}: {options.orders} orders each, "
             f"{options.repeat} rounds")
    runs = measure(variants, options)
    progress("counting statements")
    counts = {variant: count_per_order(variant, COUNTING_WARMUP, options.workdir)
              for variant in [FLOOR, *options.styles]}
    text = report(runs, counts, options)
    if options.output:
        write_section(options.output, text)
        progress(f"results written to {options.output}")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
