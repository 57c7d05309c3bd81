"""Table and file sizes after N orders, with and without retention (ORDERFLOW_RETAIN_FINISHED),
and how long each pruning batch holds SQLite's write lock.

    python -m bench.retention [--orders 100000] [--days 365] [--retain P90D] [--batch 200]
                              [--template .bench/retention-100k.db] [--rebuild]
                              [--refill 10000] [--no-vacuum] [--output BENCHMARKS.md]

The fixture (``app.fixture``, what ``orderflow fixture --orders N --days D`` does) fills a
template database once, spread over ``--days`` ending now; it is reused afterwards. Each run
works on a copy of it: measure (rows and bytes per table with its indexes, from SQLite's
``dbstat``; page count, free-list pages, file size), prune with the app's own code
(``MessageBus.prune``, ``--retain`` before the system clock's now, ``--batch`` flows per
transaction) while a probe thread writes a tiny transaction every 5 ms and times how long it
waits for the lock, measure again, try ``PRAGMA incremental_vacuum``, then VACUUM a second copy
and measure it, and finally load ``--refill`` new orders into the pruned (not vacuumed) copy to
show whether the file grows or reuses the freed pages. BENCHMARKS.md explains the results.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event

from app import create_app, fixture, schema
from app.bus import Pruned
from app.clock import parse_duration
from app.config import Settings
from bench.throughput import machine, source_state

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / ".bench" / "retention-100k.db"
START, END = "<!-- bench:retention:start -->", "<!-- bench:retention:end -->"
MIB = 1024 * 1024
PROBE_EVERY = 0.005


@dataclass
class Snapshot:
    """What a database file holds: rows and bytes (table plus its indexes) per table."""

    label: str
    rows: dict[str, int]
    table_bytes: dict[str, int]
    page_size: int
    pages: int
    free_pages: int
    file_bytes: int
    auto_vacuum: int

    @property
    def used_bytes(self) -> int:
        return (self.pages - self.free_pages) * self.page_size


def snapshot(path: Path, label: str) -> Snapshot:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        tables = [name for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name")]
        rows = {name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
                for name in tables}
        sizes = dict(connection.execute(
            "SELECT m.tbl_name, SUM(d.pgsize) FROM dbstat AS d JOIN sqlite_master AS m"
            " ON d.name = m.name GROUP BY m.tbl_name"))
        pragma = {name: connection.execute(f"PRAGMA {name}").fetchone()[0]
                  for name in ("page_size", "page_count", "freelist_count", "auto_vacuum")}
    finally:
        connection.close()
    return Snapshot(label, rows, {name: sizes.get(name, 0) for name in tables},
                    pragma["page_size"], pragma["page_count"], pragma["freelist_count"],
                    _file_bytes(path), pragma["auto_vacuum"])


def free_pages(path: Path) -> int:
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        connection.close()


def _file_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in (path, path.with_name(path.name + "-wal"))
               if f.exists())


# --- the template -------------------------------------------------------------------------------
def ensure_template(path: Path, orders: int, days: int, rebuild: bool) -> float | None:
    """The fixture database, made once; returns how long making it took (None: reused)."""
    if rebuild:
        for stale in (path, *_companions(path)):
            stale.unlink(missing_ok=True)
    if path.exists():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{path}"
    schema.upgrade(url)
    _catalogue(url)
    print(f"making {orders:,} orders over {days} days in {path} (once; reused afterwards) ...")
    started = time.perf_counter()
    report = fixture.fill(url, orders, now=datetime.now(UTC), days=days, seed=1, batch=5000)
    for line in fixture.describe(report):
        print(line)
    return time.perf_counter() - started


def _catalogue(url: str) -> None:
    from app.modules.inventory.demo import load_demo_catalogue

    app = create_app(Settings(database_url=url, dispatch="inline"))
    runtime = app.extensions["orderflow"]
    with runtime.bus.db.session() as session:
        load_demo_catalogue(session, runtime.bus.clock.now())
        session.commit()
    runtime.close()


def _companions(path: Path) -> list[Path]:
    return [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]


def copy_of(source: Path, target: Path) -> Path:
    for stale in (target, *_companions(target)):
        stale.unlink(missing_ok=True)
    shutil.copyfile(source, target)
    return target


# --- pruning, with a probe that writes beside it -----------------------------------------------
@dataclass
class Probe:
    """A writer beside the pruner: ``BEGIN IMMEDIATE`` ... ``COMMIT`` every 5 ms; how long
    each waited for ``BEGIN IMMEDIATE`` to get the write lock."""

    path: Path
    waits: list[float] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            while not self.stop.is_set():
                started = time.perf_counter()
                connection.execute("BEGIN IMMEDIATE")
                self.waits.append(time.perf_counter() - started)
                connection.execute("SELECT 1")
                connection.execute("COMMIT")
                time.sleep(PROBE_EVERY)
        finally:
            connection.close()


@dataclass
class Pruning:
    total: Pruned
    batches: list[Pruned]  # each batch's seconds: BEGIN IMMEDIATE to the return of COMMIT
    held: list[float]  # write lock taken (BEGIN IMMEDIATE returned) to COMMIT issued
    probe_waits: list[float]


def time_the_lock(engine) -> list[float]:  # type: ignore[no-untyped-def]
    """From the moment a writing transaction has the lock (app.db's ``begin`` listener has run
    BEGIN IMMEDIATE) to the moment it asks to COMMIT."""
    held: list[float] = []

    @event.listens_for(engine, "begin")
    def _locked(connection) -> None:  # type: ignore[no-untyped-def]
        if not connection.get_execution_options().get("readonly", False):
            connection.info["locked_at"] = time.perf_counter()

    @event.listens_for(engine, "commit")
    def _committing(connection) -> None:  # type: ignore[no-untyped-def]
        started = connection.info.pop("locked_at", None)
        if started is not None:
            held.append(time.perf_counter() - started)

    return held


def prune(path: Path, retain: str, batch: int, echo: Callable[[str], None]) -> Pruning:
    settings = Settings(database_url=f"sqlite:///{path}", dispatch="inline",
                        retain_finished=parse_duration(retain))
    app = create_app(settings)
    runtime = app.extensions["orderflow"]
    batches: list[Pruned] = []

    def progress(done: Pruned) -> None:
        batches.append(done)
        if len(batches) % 50 == 0:
            echo(f"  batch {len(batches)}: {done.describe()} ({done.seconds * 1000:.0f} ms)")

    held = time_the_lock(runtime.bus.db.engine)
    probe = Probe(path)
    prober = threading.Thread(target=probe.run, daemon=True)
    prober.start()
    try:
        total = runtime.bus.prune(batch=batch, progress=progress)
    finally:
        probe.stop.set()
        prober.join()
        runtime.close()
    return Pruning(total, batches, held, probe.waits)


def vacuum(path: Path, incremental: bool = False) -> float:
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        started = time.perf_counter()
        connection.execute("PRAGMA incremental_vacuum" if incremental else "VACUUM")
        return time.perf_counter() - started
    finally:
        connection.close()


def refill(path: Path, orders: int) -> float:
    started = time.perf_counter()
    fixture.fill(f"sqlite:///{path}", orders, now=datetime.now(UTC), append=True, seed=2,
                 batch=5000)
    return time.perf_counter() - started


# --- the report ---------------------------------------------------------------------------------
def _ms(seconds: list[float]) -> str:
    if not seconds:
        return "none"
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"median {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms")


def sizes_table(snapshots: list[Snapshot]) -> list[str]:
    head = "| table | " + " | ".join(f"rows, {s.label}" for s in snapshots) + " | " + \
        " | ".join(f"MiB, {s.label}" for s in snapshots) + " |"
    lines = [head, "|---|" + "---:|" * (2 * len(snapshots))]
    first = snapshots[0]
    for name in sorted(first.rows, key=lambda n: -first.table_bytes[n]):
        if not first.rows[name] and not first.table_bytes[name]:
            continue
        rows = " | ".join(f"{s.rows.get(name, 0):,}" for s in snapshots)
        size = " | ".join(f"{s.table_bytes.get(name, 0) / MIB:,.1f}" for s in snapshots)
        lines.append(f"| `{name}` | {rows} | {size} |")
    lines.append("| **all tables** | " + " | ".join(f"{sum(s.rows.values()):,}"
                                                    for s in snapshots) + " | " +
                 " | ".join(f"**{sum(s.table_bytes.values()) / MIB:,.1f}**" for s in snapshots)
                 + " |")
    return lines


def file_table(snapshots: list[Snapshot]) -> list[str]:
    lines = ["| | " + " | ".join(s.label for s in snapshots) + " |",
             "|---|" + "---:|" * len(snapshots)]
    for title, value in (
            ("file size (MiB)", lambda s: f"**{s.file_bytes / MIB:,.1f}**"),
            ("pages in the file", lambda s: f"{s.pages:,}"),
            ("free-list pages", lambda s: f"{s.free_pages:,}"),
            ("pages in use (MiB)", lambda s: f"{s.used_bytes / MIB:,.1f}")):
        lines.append(f"| {title} | " + " | ".join(value(s) for s in snapshots) + " |")
    return lines


def report(options: argparse.Namespace, snapshots: list[Snapshot], pruning: Pruning,
           timings: dict[str, float], made: float | None, free_after_incremental: int) -> str:
    total = pruning.total
    batches = [b.seconds for b in pruning.batches]
    first = snapshots[0]
    lines = [
        f"Run of {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: `python -m "
        f"bench.retention --orders {options.orders} --days {options.days} --retain "
        f"{options.retain} --batch {options.batch} --refill {options.refill}`"
        + (f"; the fixture took {made:.0f} s" if made else "; fixture reused") + ".",
        "",
        f"Machine: {machine()}; {source_state()}. SQLite page size {first.page_size} bytes, "
        f"auto_vacuum={first.auto_vacuum} (0 = NONE, the default the app creates files with).",
        "",
        f"**Pruned** ({options.retain} retention, {options.batch} flows per transaction): "
        f"{total.describe()} in {total.batches} batches, {total.seconds:.1f} s in all.",
        f"**Write lock per batch**, from `BEGIN IMMEDIATE` granted to `COMMIT` issued (the "
        f"batch's statements): {_ms(pruning.held)}; the whole batch, up to the return of "
        f"`COMMIT` (writing the WAL, and the WAL auto-checkpoint the committing connection "
        f"runs after it has released the write lock): {_ms(batches)}.",
        f"**A writer beside it**, in another connection (`BEGIN IMMEDIATE; SELECT 1; COMMIT` "
        f"every 5 ms, {len(pruning.probe_waits):,} transactions during the run): its "
        f"`BEGIN IMMEDIATE` waited for the lock {_ms(pruning.probe_waits)}.",
        f"`PRAGMA incremental_vacuum`: {timings['incremental'] * 1000:.0f} ms, "
        f"free-list pages before it {snapshots[1].free_pages:,}, after it "
        f"{free_after_incremental:,} (auto_vacuum is NONE: it may do nothing).",
        f"`VACUUM` of the pruned copy: {timings['vacuum']:.1f} s (it rewrites the whole file "
        "and holds the write lock throughout).",
    ]
    if options.refill:
        lines.append(f"Refill: {options.refill:,} new orders loaded into the pruned, not "
                     f"vacuumed copy in {timings['refill']:.1f} s (the last column).")
    lines += ["", "Rows and size per table (each with its indexes, from `dbstat`):", "",
              *sizes_table(snapshots), "", "The file:", "", *file_table(snapshots)]
    return "\n".join(lines)


def write_into(target: Path, text: str) -> None:
    document = target.read_text()
    if START not in document or END not in document:
        raise SystemExit(f"{target} has no {START} ... {END} markers")
    before, rest = document.split(START, 1)
    _, after = rest.split(END, 1)
    target.write_text(f"{before}{START}\n{text}\n{END}{after}")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.retention",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365,
                        help="spread the fixture's orders over this many days, ending now")
    parser.add_argument("--retain", default="P90D", help="ORDERFLOW_RETAIN_FINISHED to prune with")
    parser.add_argument("--batch", type=int, default=200, help="flows per transaction")
    parser.add_argument("--template", type=Path, default=TEMPLATE,
                        help="the fixture database (made when missing, never changed)")
    parser.add_argument("--rebuild", action="store_true", help="make the template anew")
    parser.add_argument("--refill", type=int, default=10_000,
                        help="new orders loaded after pruning (0: none)")
    parser.add_argument("--output", type=Path, help="write the results into this Markdown file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, echo: Callable[[str], None] = print) -> int:
    options = arguments(argv)
    made = ensure_template(options.template, options.orders, options.days, options.rebuild)
    work = copy_of(options.template, options.template.with_name("retention-work.db"))
    schema.upgrade(f"sqlite:///{work}")
    echo("measuring the fixture ...")
    snapshots = [snapshot(work, "without retention")]
    echo(f"pruning with {options.retain} ...")
    pruning = prune(work, options.retain, options.batch, echo)
    snapshots.append(snapshot(work, f"pruned ({options.retain})"))
    timings = {"incremental": vacuum(work, incremental=True)}
    free_after_incremental = free_pages(work)
    vacuumed = copy_of(work, options.template.with_name("retention-vacuumed.db"))
    echo("VACUUM of a copy ...")
    timings["vacuum"] = vacuum(vacuumed)
    snapshots.append(snapshot(vacuumed, "pruned + VACUUM"))
    vacuumed.unlink()
    if options.refill:
        echo(f"loading {options.refill:,} new orders into the pruned copy ...")
        timings["refill"] = refill(work, options.refill)
        snapshots.append(snapshot(work, f"pruned + {options.refill:,} new orders"))
    for stale in (work, *_companions(work)):
        stale.unlink(missing_ok=True)
    text = report(options, snapshots, pruning, timings, made, free_after_incremental)
    echo(text)
    if options.output:
        write_into(options.output, text)
        echo(f"\nwritten into {options.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
