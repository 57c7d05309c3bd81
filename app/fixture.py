"""``orderflow fixture --orders N``: fill a database with N orders that look real.

A few dozen real orders are played first, through the real bus: every style, both flow shapes,
every ending (delivered, cancelled for each reason, waiting for the call centre, parked), on a
throw-away SQLite file with inline dispatch and a manual clock, the operator played through the
HTTP API as in ``app.demo``. Their rows, in the modules' tables and in the message log
(messages, deliveries, the inbox, deadlines), are the templates. Each of the N orders is then a
copy of one template with fresh ids, another customer, and its times shifted to a moment in the
last ``days`` days (newest last), written in batches, one transaction per batch.

An order is only placed at a time its template fits: an order that took ten days to end is at
least ten days old, and one still waiting on a deadline (the price hold, an invoice term) is
younger than that deadline.
"""

from __future__ import annotations

import bisect
import itertools
import random
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Table,
    event,
    func,
    select,
    text,
)
from sqlmodel import SQLModel

from app.clock import as_utc
from app.demo import HOME, Ending, Operator

TEMPLATE_CUSTOMER = ("c-template", "Template Customer", "1 Template Street, Springfield")
ORDER_TABLE, PROCESSED_TABLE = "orders_order", "bus_processed"
ID_COLUMNS = ("flowid", "causationid", "opened_by", "provider_ref")
STYLES, FLOWS = ("choreography", "orchestration", "hybrid"), ("sequential", "parallel")
FLOW_SHARE = {"sequential": 0.75, "parallel": 0.25}
BASKETS = ((("sku-1", 1),), (("sku-1", 2), ("sku-3", 1)), (("sku-4", 1), ("sku-2", 1)),
           (("sku-3", 3),))
HOURLY = (("advance", "PT1H"),) * 5  # long enough for tok_outage to be parked
ISO_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d)"


@dataclass(frozen=True)
class Kind:
    """One way an order can go, how common it is (a relative weight), and how it must end."""

    ending: Ending
    weight: float
    status: str
    reason: str | None = None
    baskets: int = 1


KINDS = (  # played in this order: the ones left waiting come last, so no clock move ends them
    Kind(Ending("delivered"), 72, "delivered", baskets=len(BASKETS)),
    Kind(Ending("VIP, invoice paid after 10 days", vip=True,
                then=(("advance", "P10D"), ("pay", ""))), 3, "delivered"),
    Kind(Ending("VIP, invoice overdue", vip=True, then=(("advance", "P31D"),)), 1, "delivered"),
    Kind(Ending("clarified by the call centre", token="tok_clarify",
                then=(("advance", "P1D"), ("task", "approved"))), 3, "delivered"),
    Kind(Ending("provider outage, retried by an operator", token="tok_outage",
                then=(*HOURLY, ("retry", ""))), 1, "delivered"),
    Kind(Ending("payment declined", token="tok_decline"), 5, "cancelled", "payment_declined"),
    Kind(Ending("declined by the call centre", token="tok_clarify",
                then=(("task", "declined"),)), 1, "cancelled", "payment_declined"),
    Kind(Ending("out of stock", sku="sku-none"), 4, "cancelled", "out_of_stock"),
    Kind(Ending("undeliverable", address="12 UNDELIVERABLE Road, Springfield"), 3,
         "cancelled", "undeliverable"),
    Kind(Ending("price hold expired", token="tok_clarify", then=(("advance", "P8D"),)), 2,
         "cancelled", "price_hold_expired"),
    Kind(Ending("parked: provider outage, no operator yet", token="tok_outage", then=HOURLY),
         2, "placed"),
    Kind(Ending("VIP, invoice not paid yet", vip=True), 2, "delivered"),
    Kind(Ending("waiting for the call centre", token="tok_clarify"), 3,
         "payment_clarification"),
)


# --- playing the templates -----------------------------------------------------------------------
@dataclass(frozen=True)
class Played:
    order_id: str
    kind: Kind
    style: str
    flow: str
    weight: float


def order_request(kind: Kind, style: str, flow: str, basket: tuple[tuple[str, int], ...]
                  ) -> dict[str, Any]:
    ending = kind.ending
    customer_id, name, address = TEMPLATE_CUSTOMER
    items = [*basket, (ending.sku, 1)] if ending.sku != "sku-1" else list(basket)
    return {"customer": {"id": customer_id, "name": name,
                         "address": address if ending.address == HOME else ending.address,
                         "vip": ending.vip},
            "items": [{"sku": sku, "quantity": quantity} for sku, quantity in items],
            "payment": {"token": ending.token}, "style": style, "flow": flow}


def play(operator: Operator) -> list[Played]:
    """Every kind in every style and flow (the common ones with every basket), through the
    real bus; each must end the way its kind says."""
    played = []
    for kind in KINDS:
        for style, flow in itertools.product(STYLES, FLOWS):
            for basket in BASKETS[: kind.baskets]:
                order_id = _place(operator, kind, style, flow, basket)
                weight = kind.weight * FLOW_SHARE[flow] / len(STYLES) / kind.baskets
                played.append(Played(order_id, kind, style, flow, weight))
    for each in played:
        _check_ending(operator, each)
    return played


def _place(operator: Operator, kind: Kind, style: str, flow: str,
           basket: tuple[tuple[str, int], ...]) -> str:
    response = operator.client.post("/api/orders",
                                    json=order_request(kind, style, flow, basket))
    order_id = operator._ok(response)["id"]
    for action, argument in kind.ending.then:
        operator.do(action, argument, order_id)
    return order_id


def _check_ending(operator: Operator, played: Played) -> None:
    order = operator.client.get(f"/api/orders/{played.order_id}").get_json()
    if (order["status"], order["reason"]) != (played.kind.status, played.kind.reason):
        raise FixtureError(f"template {played.kind.ending.name!r} ({played.style}, "
                           f"{played.flow}) ended {order['status']} ({order['reason']}), "
                           f"not {played.kind.status} ({played.kind.reason})")


class FixtureError(RuntimeError):
    """The fixture could not be made; the message says why."""


@dataclass
class Recording:
    """The template orders, each with its rows from every table that holds an order's rows."""

    orders: list[tuple[Played, dict[str, list[dict[str, Any]]]]]
    seconds: float


def record_templates() -> Recording:
    """Play the templates in the demo's sandbox (a fresh in-memory database, inline dispatch,
    a manual clock) and read their rows back."""
    from app.demo import quiet_dispatcher, sandbox

    started = time.perf_counter()
    with quiet_dispatcher(), sandbox() as shop:
        _stock_up(shop.runtime.bus.db)
        played = play(shop.operator)
        with shop.runtime.bus.db.engine.connect() as connection:
            orders = [(each, read_rows(connection, each.order_id)) for each in played]
    return Recording(orders, time.perf_counter() - started)


def _stock_up(db: Any) -> None:
    """Enough of everything in stock for every template, except what is sold out."""
    from sqlalchemy import update

    from app.modules.inventory.models import Item

    with db.session() as session:
        session.execute(update(Item).where(Item.stock > 0).values(stock=10**6))
        session.commit()


# --- reading a template's rows ------------------------------------------------------------------
def order_tables() -> list[tuple[Table, str]]:
    """Every table that holds rows of an order, with the column that names the order (the
    message ids, for the inbox). Catalogue and clock are not an order's."""
    from app.modules.registry import load_models

    load_models()
    found = []
    for table in SQLModel.metadata.sorted_tables:
        key = next((c for c in ("order_id", "flowid") if c in table.c), None)
        if table.name == ORDER_TABLE:
            key = "id"
        elif table.name == PROCESSED_TABLE:
            key = "message_id"
        if key:
            found.append((table, key))
    return found


def read_rows(connection: Connection, order_id: str) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    messages = SQLModel.metadata.tables["bus_message"]
    message_ids = list(connection.execute(select(messages.c.id)
                                          .where(messages.c.flowid == order_id)).scalars())
    for table, key in order_tables():
        wanted = message_ids if table.name == PROCESSED_TABLE else [order_id]
        statement = select(table).where(table.c[key].in_(wanted))
        primary = list(table.primary_key.columns)
        rows[table.name] = [dict(row) for row in connection.execute(
            statement.order_by(*primary)).mappings()]
    return rows


# --- compiling a template into row plans --------------------------------------------------------
Clone = Any  # a CloneContext, defined below; plans only read its fields


@dataclass
class RowPlan:
    """One row of a template, in its table's column order, as the database driver takes it:
    the columns a copy keeps, and how to make the others."""

    values: list[Any]
    making: list[tuple[int, Callable[[Clone], Any]]]

    def make(self, clone: Clone) -> tuple[Any, ...]:
        row = self.values.copy()
        for position, make in self.making:
            row[position] = make(clone)
        return tuple(row)


@dataclass(frozen=True)
class Template:
    played: Played
    placed_at: datetime
    span: timedelta  # from placing to its last event
    open_for: timedelta | None  # until its first pending deadline falls due
    ids: tuple[str, ...]  # the template's ids and customer; a copy has its own, in this order
    plans: dict[str, list[RowPlan]]

    def fits(self, age: timedelta) -> bool:
        return self.span <= age and (self.open_for is None or age < self.open_for)


def compile_template(played: Played, rows: dict[str, list[dict[str, Any]]],
                     dialect: Dialect) -> Template:
    placed_at = as_utc(rows[ORDER_TABLE][0]["created_at"])
    ids = tuple(dict.fromkeys(_template_ids(rows))) + TEMPLATE_CUSTOMER
    compiler = _Compiler(ids, rows, dialect)
    plans = {name: [compiler.row(name, row, index) for index, row in enumerate(table_rows)]
             for name, table_rows in rows.items()}
    return Template(played, placed_at, _last_event(rows) - placed_at,
                    _open_for(rows, placed_at), ids, plans)


def _template_ids(rows: dict[str, list[dict[str, Any]]]) -> Iterator[str]:
    yield rows[ORDER_TABLE][0]["id"]
    for table_rows in rows.values():
        for row in table_rows:
            for column, value in row.items():
                if isinstance(value, str) and _is_id_column(column):
                    yield value


def _is_id_column(column: str) -> bool:
    named_like_an_id = column == "id" or column.endswith("_id") or column in ID_COLUMNS
    return named_like_an_id and column != "customer_id"


def _last_event(rows: dict[str, list[dict[str, Any]]]) -> datetime:
    moments = [row["time"] for row in rows["bus_message"]]
    moments += [row["processed_at"] for row in rows[PROCESSED_TABLE]]
    moments += [row["updated_at"] for row in rows[ORDER_TABLE] + rows["bus_delivery"]]
    return max(as_utc(moment) for moment in moments)


def _open_for(rows: dict[str, list[dict[str, Any]]], placed_at: datetime) -> timedelta | None:
    pending = [as_utc(row["due_at"]) for row in rows["bus_deadline"]
               if row["status"] == "pending"]
    return min(pending) - placed_at if pending else None


class _Compiler:
    """Decides, column by column, what a copy keeps and what it makes anew. On SQLite the
    values are made the way SQLAlchemy would store them (times as its text format), so rows go
    to the driver as they are; on other databases SQLAlchemy still converts them."""

    def __init__(self, ids: tuple[str, ...], rows: dict[str, list[dict[str, Any]]],
                 dialect: Dialect) -> None:
        self.slots = {value: slot for slot, value in enumerate(ids)}
        alternatives = sorted(ids, key=len, reverse=True)
        self.pattern = re.compile("|".join([ISO_TIME, *map(re.escape, alternatives)]))
        self.message_index = {row["seq"]: i for i, row in enumerate(rows["bus_message"])}
        self.dialect = dialect
        self.raw = dialect.name == "sqlite"

    def row(self, table_name: str, row: dict[str, Any], index: int) -> RowPlan:
        table = SQLModel.metadata.tables[table_name]
        plan = RowPlan([], [])
        for position, column in enumerate(table.c):
            value = row[column.name]
            make = self.column(table, column, value, index)
            plan.values.append(self.constant(column, value) if make is None else None)
            if make is not None:
                plan.making.append((position, make))
        return plan

    def constant(self, column: Column, value: Any) -> Any:
        if not self.raw:
            return value
        process = column.type.dialect_impl(self.dialect).bind_processor(self.dialect)
        return process(value) if process else value

    def column(self, table: Table, column: Column, value: Any, index: int
               ) -> Callable[[Clone], Any] | None:
        if column is table.autoincrement_column:
            return lambda clone, name=table.name: clone.bases[name] + index
        if table.name == "bus_delivery" and column.name == "message_seq":
            position = self.message_index[value]
            return lambda clone: clone.bases["bus_message"] + position
        if value is None:
            return None
        if isinstance(column.type, DateTime):
            return self.moment(as_utc(value))
        if isinstance(value, str):
            return self.text(value)
        return None

    def moment(self, moment: datetime) -> Callable[[Clone], Any]:
        if self.raw:  # SQLAlchemy's SQLite text for a UTC time, made by C code
            naive = moment.replace(tzinfo=None)
            return lambda clone: (naive + clone.shift).isoformat(" ", "microseconds")
        return lambda clone: moment + clone.shift

    def text(self, value: str) -> Callable[[Clone], Any] | None:
        if value in self.slots:
            slot = self.slots[value]
            return lambda clone: clone.ids[slot]
        parts = self._parts(value)
        if len(parts) == 1 and isinstance(parts[0], str):
            return None
        return lambda clone: "".join(part if isinstance(part, str) else part(clone)
                                     for part in parts)

    def _parts(self, value: str) -> list[Any]:
        parts: list[Any] = []
        position = 0
        for match in self.pattern.finditer(value):
            parts.append(value[position:match.start()])
            parts.append(self._token(match.group()))
            position = match.end()
        parts.append(value[position:])
        return [part for part in parts if part != ""]

    def _token(self, found: str) -> Callable[[Clone], str]:
        if found in self.slots:
            slot = self.slots[found]
            return lambda clone: clone.ids[slot]
        moment = datetime.fromisoformat(found)
        return lambda clone: (moment + clone.shift).isoformat()


# --- making copies ------------------------------------------------------------------------------
FIRST_NAMES = ("Ada", "Alan", "Grace", "Edsger", "Barbara", "Donald", "Frances", "John",
               "Margaret", "Ken", "Radia", "Dennis", "Hedy", "Tim", "Katherine", "Niklaus",
               "Sophie", "Linus", "Adele", "Guido")
LAST_NAMES = ("Lovelace", "Turing", "Hopper", "Dijkstra", "Liskov", "Knuth", "Allen", "Backus",
              "Hamilton", "Thompson", "Perlman", "Ritchie", "Lamarr", "Berners-Lee", "Johnson",
              "Wirth", "Wilson", "Torvalds", "Goldberg", "van Rossum")
STREETS = ("Main Street", "Station Road", "Church Lane", "Mill Road", "High Street",
           "Park Avenue", "Harbour Row", "Elm Close")
CITIES = ("Springfield", "Shelbyville", "Ogdenville", "North Haverbrook", "Capital City")
CUSTOMERS = 50_000


def customer(number: int) -> tuple[str, str, str]:
    """The same customer number always has the same id, name and address."""
    name = f"{FIRST_NAMES[number % 20]} {LAST_NAMES[number // 20 % 20]}"
    street = STREETS[number // 400 % len(STREETS)]
    address = f"{number % 97 + 1} {street}, {CITIES[number % len(CITIES)]}"
    return f"c-{number:05d}", name, address


def fresh_id(like: str) -> str:
    """A new id shaped like a template's: the same prefix, a random rest of the same length."""
    if like.startswith("ord_"):
        return f"ord_{secrets.token_urlsafe(15)}"
    prefix, _, rest = like.rpartition("_")
    return (prefix + "_" if prefix else "") + secrets.token_hex(len(rest) // 2 + 1)[: len(rest)]


@dataclass
class CloneContext:
    """What one copy of a template gets: ids, customer, time shift, and where its row numbers
    start in each table that counts them."""

    ids: list[str]
    shift: timedelta
    bases: dict[str, int]


def copy_rows(template: Template, placed_at: datetime, customer_number: int,
              bases: dict[str, int]) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of one new order, and the row numbers advanced past them."""
    ids = [fresh_id(like) for like in template.ids[: -len(TEMPLATE_CUSTOMER)]]
    clone = CloneContext([*ids, *customer(customer_number)], placed_at - template.placed_at,
                         bases)
    rows = {name: [plan.make(clone) for plan in plans]
            for name, plans in template.plans.items()}
    for name, plans in template.plans.items():
        bases[name] = bases.get(name, 0) + len(plans)
    return rows


# --- choosing what each new order is ------------------------------------------------------------
@dataclass
class Chooser:
    """Picks a template that fits an order of a given age, by weight."""

    templates: list[Template]
    random: random.Random
    edges: list[timedelta] = field(default_factory=list)
    choices: list[tuple[list[Template], list[float]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        ages = {t.span for t in self.templates} | {t.open_for for t in self.templates
                                                  if t.open_for is not None}
        self.edges = sorted(ages)
        for edge in self.edges:  # within [edge, next edge) the same templates fit
            fitting = [t for t in self.templates if t.fits(edge)]
            self.choices.append((fitting, list(itertools.accumulate(
                t.played.weight for t in fitting))))

    def pick(self, age: timedelta) -> Template | None:
        index = bisect.bisect_right(self.edges, age) - 1
        if index < 0 or not self.choices[index][0]:
            return None
        fitting, cumulative = self.choices[index]
        return self.random.choices(fitting, cum_weights=cumulative)[0]


def placing_times(count: int, start: datetime, end: datetime, rng: random.Random
                  ) -> list[datetime]:
    seconds = (end - start).total_seconds()
    return [start + timedelta(seconds=s)
            for s in sorted(rng.uniform(0, seconds) for _ in range(count))]


# --- loading ------------------------------------------------------------------------------------
@dataclass
class Report:
    orders: int
    seconds: float
    template_seconds: float
    rows: Counter[str]
    statuses: Counter[tuple[str, str | None]]
    stuck: int
    styles: Counter[str]
    flows: Counter[str]
    database: str
    size_bytes: int | None


def loading_engine(url: str) -> Engine:
    """The app's engine, plus settings for a bulk load on this connection only: on SQLite no
    fsync and a large page cache; on PostgreSQL no wait for the WAL flush at commit."""
    from app.db import make_engine

    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _for_the_load(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA synchronous=OFF")
            cursor.execute("PRAGMA cache_size=-1000000")  # about 1 GB
            cursor.execute("PRAGMA temp_store=MEMORY")
            cursor.close()
    return engine


def existing_orders(connection: Connection) -> int:
    orders = SQLModel.metadata.tables[ORDER_TABLE]
    return connection.execute(select(func.count()).select_from(orders)).scalar_one()


def _latest_order(connection: Connection) -> datetime | None:
    orders = SQLModel.metadata.tables[ORDER_TABLE]
    latest = connection.execute(select(func.max(orders.c.created_at))).scalar()
    return as_utc(latest) if latest else None


def _row_bases(connection: Connection) -> dict[str, int]:
    """Where each counted table's next row number starts (read inside the batch's write lock)."""
    bases = {}
    for table, _ in order_tables():
        counted = table.autoincrement_column
        if counted is not None:
            top = connection.execute(select(func.max(counted))).scalar()
            bases[table.name] = (top or 0) + 1
    return bases


@dataclass
class Plan:
    """The whole load: when each order is placed, and which template it copies."""

    chooser: Chooser
    times: list[datetime]
    now: datetime
    rng: random.Random


def fill(url: str, count: int, *, now: datetime, append: bool = False, days: int = 90,
         batch: int = 2000, seed: int | None = None,
         progress: Callable[[int], None] = lambda _: None,
         recording: Recording | None = None) -> Report:
    """Add ``count`` orders to the (migrated) database at ``url``; refuses one that has orders
    unless ``append``."""
    engine = loading_engine(url)
    try:
        with engine.connect() as connection:
            start = _window_start(connection, now, days, append)
        recording = recording or record_templates()
        templates = [compile_template(played, rows, engine.dialect)
                     for played, rows in recording.orders]
        rng = random.Random(seed)
        plan = Plan(Chooser(templates, rng), placing_times(count, start, now, rng), now, rng)
        started = time.perf_counter()
        made = _load(engine, plan, batch, progress)
        return _report(engine, made, time.perf_counter() - started, recording.seconds)
    finally:
        engine.dispose()


class DatabaseHasOrders(FixtureError):
    def __init__(self, count: int) -> None:
        super().__init__(f"the database already has {count:,} orders")
        self.count = count


def _window_start(connection: Connection, now: datetime, days: int, append: bool) -> datetime:
    found = existing_orders(connection)
    if found and not append:
        raise DatabaseHasOrders(found)
    start = now - timedelta(days=days)
    latest = _latest_order(connection)
    if latest is not None and latest > start:  # newest last, after the orders already there
        start = min(latest, now)
    return start


@dataclass
class Made:
    rows: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    styles: Counter[str] = field(default_factory=Counter)
    flows: Counter[str] = field(default_factory=Counter)
    stuck: int = 0
    orders: int = 0

    def count(self, template: Template) -> None:
        kind = template.played.kind
        self.orders += 1
        self.statuses[(kind.status, kind.reason)] += 1
        self.styles[template.played.style] += 1
        self.flows[template.played.flow] += 1
        self.stuck += kind.ending.token == "tok_outage" and kind.status == "placed"


def _load(engine: Engine, plan: Plan, batch: int, progress: Callable[[int], None]) -> Made:
    made = Made()
    tables = {table.name: table for table, _ in order_tables()}
    for first in range(0, len(plan.times), batch):
        chunk = plan.times[first:first + batch]
        with engine.begin() as connection:
            _load_batch(connection, tables, plan, chunk, made)
        progress(len(chunk))
    _after_load(engine, tables)
    return made


def _load_batch(connection: Connection, tables: dict[str, Table], plan: Plan,
                times: list[datetime], made: Made) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SET LOCAL synchronous_commit = off"))
    bases = _row_bases(connection)
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in tables}
    for placed_at in times:
        template = plan.chooser.pick(plan.now - placed_at)
        if template is None:
            raise FixtureError(f"no template fits an order placed at {placed_at.isoformat()}")
        for name, new in copy_rows(template, placed_at, plan.rng.randrange(CUSTOMERS),
                                   bases).items():
            rows[name].extend(new)
        made.count(template)
    for name, table in tables.items():
        if rows[name]:
            insert_rows(connection, table, rows[name])
            made.rows[name] += len(rows[name])


def insert_rows(connection: Connection, table: Table, rows: list[tuple[Any, ...]]) -> None:
    """SQLite: the rows are already as the driver takes them. Elsewhere SQLAlchemy converts."""
    if connection.dialect.name == "sqlite":
        names = ", ".join(column.name for column in table.c)
        marks = ", ".join("?" for _ in table.c)
        connection.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})",
                                   rows)
        return
    keys = [column.key for column in table.c]
    connection.execute(table.insert(), [dict(zip(keys, row, strict=True)) for row in rows])


def _after_load(engine: Engine, tables: dict[str, Table]) -> None:
    """SQLite: fold the write-ahead log back into the database file (outside a transaction).
    PostgreSQL: explicit row numbers leave the sequences behind; move them past the rows."""
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
        return
    with engine.begin() as connection:
        for table in tables.values():
            counted = table.autoincrement_column
            if counted is not None:
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', '{counted.name}'), "
                    f"(SELECT coalesce(max({counted.name}), 1) FROM {table.name}))"))


def _report(engine: Engine, made: Made, seconds: float, template_seconds: float) -> Report:
    return Report(made.orders, seconds, template_seconds, made.rows, made.statuses, made.stuck,
                  made.styles, made.flows, engine.url.render_as_string(hide_password=True),
                  database_size(engine))


def database_size(engine: Engine) -> int | None:
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database or "")
        files = [path, path.with_name(path.name + "-wal")]
        return sum(f.stat().st_size for f in files if f.exists())
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_database_size(current_database())")).scalar()


def describe(report: Report) -> list[str]:
    """What the command prints when it is done."""
    rate = report.orders / report.seconds if report.seconds else 0
    lines = [f"made {report.orders:,} orders in {report.seconds:.1f} s ({rate:,.0f} orders/s; "
             f"templates played in {report.template_seconds:.1f} s)"]
    for (status, reason), number in report.statuses.most_common():
        lines.append(f"  {status + (f' ({reason})' if reason else ''):<40} {number:>10,}")
    lines.append(f"  stuck (a parked delivery) {report.stuck:,}; styles: "
                 + ", ".join(f"{s} {n:,}" for s, n in sorted(report.styles.items()))
                 + "; flows: " + ", ".join(f"{f} {n:,}" for f, n in sorted(report.flows.items())))
    lines.append("rows: " + ", ".join(f"{name} {n:,}" for name, n in report.rows.items()))
    size = f"{report.size_bytes / 2**20:,.0f} MiB" if report.size_bytes is not None else "?"
    lines.append(f"database: {report.database}, {size}")
    return lines


# --- the command --------------------------------------------------------------------------------
def run_command(runtime: Any, count: int, *, append: bool, days: int, seed: int | None,
                batch: int) -> None:
    """``orderflow fixture``: migrate, refuse a database with orders unless ``append``, load
    with a progress bar, say what was made."""
    import click

    from app import schema

    url = runtime.bus.db.engine.url.render_as_string(hide_password=False)
    schema.upgrade(url)
    _refuse_orders_unless_appending(runtime, count, append)
    _ensure_catalogue(runtime)
    click.echo("playing the template orders through the bus ...")
    recording = record_templates()
    with click.progressbar(length=count, label="orders", show_pos=True) as bar:
        report = fill(url, count, now=runtime.bus.clock.now(), append=append, days=days,
                      batch=batch, seed=seed, progress=bar.update, recording=recording)
    for line in describe(report):
        click.echo(line)


def _refuse_orders_unless_appending(runtime: Any, count: int, append: bool) -> None:
    import click

    with runtime.bus.db.engine.connect() as connection:
        found = existing_orders(connection)
    if found and not append:
        raise click.UsageError(f"the database already has {found:,} orders "
                               f"({runtime.bus.db.engine.url.render_as_string()}); pass "
                               f"--append to add {count:,} more, or point "
                               f"ORDERFLOW_DATABASE_URL at an empty database")


def _ensure_catalogue(runtime: Any) -> None:
    """The copies name the demo catalogue's items; an empty catalogue gets it."""
    from app.modules.inventory.demo import load_demo_catalogue

    with runtime.bus.db.session() as session:
        load_demo_catalogue(session, runtime.bus.clock.now())
        session.commit()
