"""Backup and restore of the SQLite database, while the shop runs (``orderflow backup FILE``,
``orderflow restore FILE``). PostgreSQL has its own tools (``pg_dump``); see ``pg_dump_hint``.

Backup copies through SQLite's online backup API in steps of ``STEP_PAGES`` pages, inside one
read transaction on the source: in WAL mode a reader never blocks the shop's writers, and the
held transaction pins the snapshot, so the copy is the database as it was when the backup began
(without it, every write by the shop between two steps would restart the copy from page one).
The copy is written beside FILE under a temporary name, checked, then renamed into place.

Restore writes the backup into the live file through the same API, as one write transaction,
so SQLite itself retires the old WAL frames (deleting ``-wal``/``-shm`` by hand while anything
has the file open corrupts it). A serving process holds a shared ``flock`` on ``<db>.lock``
(``ServingLock``, taken by ``Runtime.start``); restore takes it exclusively, so it refuses while
a shop serves on the file. See docs/adr/0015-backup-through-the-sqlite-backup-api.md."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from app import schema

STEP_PAGES = 1024  # 4 MiB a step with SQLite's default 4 KiB pages
BUSY_TIMEOUT_S = 10.0
SQLITE_MAGIC = b"SQLite format 3\x00"
REQUIRED_TABLES = ("alembic_version", "bus_message", "bus_delivery", "orders_order")
ORDERS_TABLE = "orders_order"  # counted for the report only, by name: the kernel knows no module
Progress = Callable[[int, int], None]  # (pages copied, pages in all)


class BackupError(Exception):
    """Backup or restore cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Report:
    path: Path
    size_bytes: int
    orders: int
    seconds: float
    revision: str | None
    head: str | None

    def lines(self, verb: str) -> list[str]:
        migrations = (f"at head ({self.revision})" if self.revision == self.head else
                      f"at {self.revision}, head is {self.head} (restore migrates it)")
        return [f"{verb} {self.path}", f"  size: {self.size_bytes:,} bytes",
                f"  orders: {self.orders:,}", f"  integrity: ok; migrations {migrations}",
                f"  took: {self.seconds:.2f} s"]


# --- where the database is -------------------------------------------------------------------
def sqlite_file(url: str | URL) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL (or an in-memory SQLite database)."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    return Path(parsed.database) if parsed.database not in (None, "", ":memory:") else None


def database_file(url: str | URL) -> Path:
    """The SQLite file of the configured database, or a BackupError saying what to do."""
    database = sqlite_file(url)
    if database is not None:
        return database
    if make_url(url).drivername.startswith("sqlite"):
        raise BackupError("the database is in memory: there is nothing on disk to back up")
    raise BackupError(pg_dump_hint(url))


def pg_dump_hint(url: str | URL) -> str:
    """What to run instead, on PostgreSQL: the pg_dump and pg_restore lines for this URL, with
    the password masked."""
    shown = make_url(url).set(drivername="postgresql").render_as_string(hide_password=True)
    return ("orderflow backup and restore handle SQLite databases only; this shop runs on "
            "PostgreSQL. "
            f"Use its own tools:\n  pg_dump --format=custom --file=orderflow.dump '{shown}'\n"
            f"  pg_restore --clean --if-exists --no-owner --dbname='{shown}' orderflow.dump\n"
            "(the password is masked: give it with PGPASSWORD or ~/.pgpass)")


# --- backup -----------------------------------------------------------------------------------
def backup(source: Path, target: Path, *, force: bool = False,
           progress: Progress | None = None) -> Report:
    """Copy the live database ``source`` to ``target`` while the shop runs; see the module's
    docstring. Never leaves a half-written file under ``target``'s name."""
    started = time.monotonic()
    _check_backup_target(source, target, force)
    draft = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    try:
        _copy_snapshot(source, draft, progress)
        report = verify(draft, started)
        _fsync(draft)
        os.replace(draft, target)
        _fsync(target.parent)
    finally:
        draft.unlink(missing_ok=True)
    return Report(target, report.size_bytes, report.orders, time.monotonic() - started,
                  report.revision, report.head)


LIVE_FILE_ENDS = ("-wal", "-shm", "-journal", ".lock")  # SQLite's and ours, beside the file


def _check_backup_target(source: Path, target: Path, force: bool) -> None:
    if not source.is_file():
        raise BackupError(f"there is no database at {source}; nothing to back up")
    if target.exists() and not force:
        raise BackupError(f"{target} exists already; choose another name or pass --force to "
                          "replace it")
    if target.exists() and not target.is_file():
        raise BackupError(f"{target} is not a file")
    live = source.resolve()
    if target.resolve() in {live, *(live.with_name(live.name + end) for end in LIVE_FILE_ENDS)}:
        raise BackupError(f"{target} is the live database or one of its own files; back up to "
                          "another file")
    target.parent.mkdir(parents=True, exist_ok=True)


def _copy_snapshot(source: Path, draft: Path, progress: Progress | None) -> None:
    with _connect(source) as live, _connect(draft) as copy:
        live.execute("BEGIN")  # one read transaction for all steps: one snapshot
        live.execute("SELECT count(*) FROM sqlite_master").fetchone()
        live.backup(copy, pages=STEP_PAGES,
                    progress=(lambda _, left, total: progress(total - left, total))
                    if progress else None)
        live.execute("COMMIT")
        copy.execute("PRAGMA journal_mode=DELETE")  # a backup is one self-contained file


# --- checks -----------------------------------------------------------------------------------
def verify(path: Path, started: float | None = None) -> Report:
    """Check that ``path`` is a sound orderflow database: a SQLite file, ``quick_check`` ok,
    our tables present; report its size, orders and migration revision."""
    began = time.monotonic() if started is None else started
    _require_sqlite_header(path)
    with _connect(path, read_only=True) as db:
        _require_integrity(db, path)
        _require_tables(db, path)
        orders = db.execute(f"SELECT count(*) FROM {ORDERS_TABLE}").fetchone()[0]
        row = db.execute("SELECT version_num FROM alembic_version").fetchone()
    return Report(path, path.stat().st_size, orders, time.monotonic() - began,
                  row[0] if row else None, schema.head_revision())


def _require_sqlite_header(path: Path) -> None:
    if not path.is_file():
        raise BackupError(f"there is no file {path}")
    with path.open("rb") as file:
        if file.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise BackupError(f"{path} is not a SQLite database")


def _require_integrity(db: sqlite3.Connection, path: Path) -> None:
    try:
        problems = [row[0] for row in db.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is damaged: {error}") from None
    if problems != ["ok"]:
        raise BackupError(f"{path} is damaged: {'; '.join(problems[:3])}")


def _require_tables(db: sqlite3.Connection, path: Path) -> None:
    present = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    missing = [table for table in REQUIRED_TABLES if table not in present]
    if missing:
        raise BackupError(f"{path} is a SQLite database but not orderflow's (no "
                          f"{', '.join(missing)})")


# --- restore ----------------------------------------------------------------------------------
def restore(backup_file: Path, target: Path, url: str, *, force: bool = False) -> Report:
    """Replace the database at ``target`` (the configured one, ``url``) with ``backup_file``,
    then migrate it to head. Refuses while a shop serves on ``target`` unless ``force``."""
    started = time.monotonic()
    verify(backup_file)
    if target.exists() and target.resolve() == backup_file.resolve():
        raise BackupError(f"{backup_file} is the configured database itself")
    with ServingLock(target).exclusive(wait=False) as free:
        if not free and not force:
            raise BackupError(f"a running orderflow is serving {target}; stop it first (or "
                              "pass --force to replace the database under it)")
        _write_into(backup_file, target)
    schema.upgrade(url)
    report = verify(target, started)
    return Report(target, report.size_bytes, report.orders, time.monotonic() - started,
                  report.revision, report.head)


def _write_into(backup_file: Path, target: Path) -> None:
    """One write transaction replaces every page of ``target``; a file SQLite cannot open as a
    database (the reason to restore, maybe) is moved aside with its -wal and -shm first."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        _copy_all(backup_file, target)
    except sqlite3.DatabaseError:
        _move_aside(target)
        _copy_all(backup_file, target)


def _copy_all(backup_file: Path, target: Path) -> None:
    with _connect(backup_file, read_only=True) as source, _connect(target) as live:
        source.backup(live)  # all pages in one step: the target is write-locked throughout
        live.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _move_aside(target: Path) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for suffix in ("", "-wal", "-shm"):
        damaged = target.with_name(target.name + suffix)
        if damaged.exists():
            damaged.rename(damaged.with_name(f"{damaged.name}.broken-{stamp}"))


# --- "is a shop serving this file?" ------------------------------------------------------------
class ServingLock:
    """A ``flock`` on ``<db>.lock``: every serving process holds it shared while it serves;
    restore takes it exclusively. The kernel drops the lock when the process dies."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def hold_shared(self) -> None:
        """Taken by ``Runtime.start``; waits while a restore runs, then serves the new data."""
        if self._fd is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    @contextlib.contextmanager
    def exclusive(self, *, wait: bool) -> Iterator[bool]:
        """Hold the lock exclusively; yields False when someone serves (and ``wait`` is off)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            free = True
        except BlockingIOError:
            free = False
        try:
            yield free
        finally:
            os.close(fd)


# --- small helpers ----------------------------------------------------------------------------
@contextlib.contextmanager
def _connect(path: Path, *, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    uri = f"{path.resolve().as_uri()}?mode=ro" if read_only else path.resolve().as_uri()
    db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        yield db
    finally:
        db.close()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
