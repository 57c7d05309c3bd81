"""``orderflow backup`` and ``orderflow restore`` on SQLite files (in-process apps; the backup
under load against a real server is in tests/e2e/test_backup_under_load.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient

from app import backup, schema
from tests.conftest import ADMIN_HEADERS

ORDER = {"customer": {"id": "c-1", "name": "Ada Lovelace", "address": "1 Main Street"},
         "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_ok"}}


@pytest.fixture
def shop(database_url: str, make_app: Callable[..., Flask]) -> Flask:
    """A migrated SQLite shop (the backup checks the migrations), not started."""
    schema.upgrade(database_url)
    return make_app()


def db_file(app: Flask) -> Path:
    path = backup.sqlite_file(app.extensions["orderflow"].bus.db.engine.url)
    assert path is not None
    return path


def place(client: FlaskClient) -> str:
    answer = client.post("/api/orders", json=ORDER)
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()["id"]


def cli(app: Flask, *args: str) -> Result:
    return app.test_cli_runner().invoke(args=["orderflow", *args])


def orders_in(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT id FROM orders_order")}


# --- backup -----------------------------------------------------------------------------------
def test_backup_writes_a_checked_copy_and_says_what_it_wrote(shop: Flask,
                                                             tmp_path: Path) -> None:
    order_id = place(shop.test_client())
    target = tmp_path / "backups" / "shop-1.db"
    result = cli(shop, "backup", str(target))
    assert result.exit_code == 0, result.output
    assert f"backup written to {target}" in result.output
    assert f"size: {target.stat().st_size:,} bytes" in result.output
    assert "orders: 1" in result.output
    assert f"integrity: ok; migrations at head ({schema.head_revision()})" in result.output
    assert "took: " in result.output
    assert orders_in(target) == {order_id}
    assert list(target.parent.iterdir()) == [target]  # no temporary file left beside it
    with sqlite3.connect(target) as db:  # one self-contained file, no -wal needed
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_backup_refuses_to_overwrite_a_file_unless_forced(shop: Flask, tmp_path: Path) -> None:
    target = tmp_path / "existing.db"
    target.write_bytes(b"an older backup")
    refused = cli(shop, "backup", str(target))
    assert refused.exit_code != 0
    assert "exists already" in refused.output and "--force" in refused.output
    assert target.read_bytes() == b"an older backup"
    forced = cli(shop, "backup", "--force", str(target))
    assert forced.exit_code == 0, forced.output
    backup.verify(target)


@pytest.mark.parametrize("end", ["", "-wal", "-shm"])
def test_backup_never_writes_over_the_live_database_or_its_own_files(shop: Flask,
                                                                     end: str) -> None:
    live = db_file(shop)
    target = live.with_name(live.name + end)
    target.touch()
    before = target.read_bytes()

    refused = cli(shop, "backup", "--force", str(target))

    assert refused.exit_code != 0 and "live database" in refused.output
    assert target.read_bytes() == before


def test_a_failed_backup_leaves_nothing_under_the_name(shop: Flask, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(path: Path, started: float | None = None) -> backup.Report:
        raise backup.BackupError(f"{path} is damaged: simulated")

    monkeypatch.setattr(backup, "verify", broken)
    result = cli(shop, "backup", str(tmp_path / "never.db"))
    assert result.exit_code != 0 and "damaged" in result.output
    assert list(tmp_path.glob("*never*")) == []


def test_backup_on_postgresql_explains_pg_dump_with_the_password_masked() -> None:
    from app import create_app
    from app.config import Settings

    app = create_app(Settings(database_url="postgresql+psycopg://shop:s3cret@db:5432/orders",
                              dispatch="inline"))
    result = cli(app, "backup", "x.dump")
    assert result.exit_code != 0
    assert "pg_dump --format=custom" in result.output
    assert "postgresql://shop:***@db:5432/orders" in result.output
    assert "s3cret" not in result.output
    restore = cli(app, "restore", "x.dump")
    assert restore.exit_code != 0 and "pg_restore" in restore.output


# --- restore ----------------------------------------------------------------------------------
def test_restore_refuses_while_the_shop_serves_the_database(shop: Flask, tmp_path: Path) -> None:
    place(shop.test_client())
    copy = tmp_path / "copy.db"
    backup.backup(db_file(shop), copy)
    shop.extensions["orderflow"].start()  # serving: holds the serving lock
    result = cli(shop, "restore", str(copy))
    assert result.exit_code != 0
    assert "running orderflow is serving" in result.output and "--force" in result.output


def test_restore_after_stop_brings_back_the_orders(shop: Flask, tmp_path: Path,
                                                   make_app: Callable[..., Flask]) -> None:
    client = shop.test_client()
    kept = place(client)
    copy = tmp_path / "copy.db"
    backup.backup(db_file(shop), copy)
    lost = place(client)
    shop.extensions["orderflow"].start()
    shop.extensions["orderflow"].close()  # stopped: the lock is free again

    result = cli(shop, "restore", str(copy))
    assert result.exit_code == 0, result.output
    assert f"restored {copy}" in result.output and "orders: 1" in result.output
    again = make_app(seed=False).test_client()
    assert again.get(f"/api/orders/{kept}").get_json()["status"] == "delivered"
    assert again.get(f"/api/orders/{lost}").status_code == 404
    assert len(again.get("/api/orders/" + kept + "/timeline").get_json()["messages"]) > 3


def test_restore_forced_under_a_running_shop_is_seen_by_it(shop: Flask, tmp_path: Path) -> None:
    """The backup API rewrites the live file through SQLite, so a process that has it open
    sees the restored data at its next transaction (nothing was swapped under its feet)."""
    client = shop.test_client()
    kept = place(client)
    copy = tmp_path / "copy.db"
    backup.backup(db_file(shop), copy)
    shop.extensions["orderflow"].start()
    lost = place(client)
    result = cli(shop, "restore", "--force", str(copy))
    assert result.exit_code == 0, result.output
    assert client.get(f"/api/orders/{kept}").status_code == 200
    assert client.get(f"/api/orders/{lost}").status_code == 404
    assert client.get("/api/orders", headers=ADMIN_HEADERS).get_json()["items"][0]["id"] == kept


def test_an_older_backup_is_migrated_to_head_when_restored(shop: Flask, tmp_path: Path) -> None:
    kept = place(shop.test_client())
    copy = tmp_path / "old.db"
    backup.backup(db_file(shop), copy)
    command.downgrade(schema.alembic_config(f"sqlite:///{copy}"), "0003")
    assert backup.verify(copy).revision == "0003"

    result = cli(shop, "restore", str(copy))
    assert result.exit_code == 0, result.output
    assert backup.verify(db_file(shop)).revision == schema.head_revision()
    assert orders_in(db_file(shop)) == {kept}


@pytest.mark.parametrize(("content", "problem"), [
    (b"name,price\nespresso,9.90\n", "is not a SQLite database"),
    (b"", "is not a SQLite database")])
def test_restoring_a_file_that_is_not_a_database_is_a_clear_error(
        shop: Flask, tmp_path: Path, content: bytes, problem: str) -> None:
    before = orders_in(db_file(shop))
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(content)
    result = cli(shop, "restore", str(bogus))
    assert result.exit_code != 0
    assert f"{bogus} {problem}" in result.output
    assert orders_in(db_file(shop)) == before


def test_restoring_another_sqlite_database_names_what_is_missing(shop: Flask,
                                                                 tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    result = cli(shop, "restore", str(other))
    assert result.exit_code != 0
    assert "not orderflow's" in result.output and "orders_order" in result.output
    missing = cli(shop, "restore", str(tmp_path / "nowhere.db"))
    assert missing.exit_code != 0 and "there is no file" in missing.output


def test_a_damaged_live_database_is_moved_aside_and_restored(shop: Flask,
                                                             tmp_path: Path) -> None:
    kept = place(shop.test_client())
    copy = tmp_path / "copy.db"
    backup.backup(db_file(shop), copy)
    shop.extensions["orderflow"].bus.db.dispose()
    database = db_file(shop)
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    database.write_bytes(b"garbage" * 1000)

    result = cli(shop, "restore", str(copy))
    assert result.exit_code == 0, result.output
    assert orders_in(database) == {kept}
    assert [p.name.split(".broken-")[0] for p in database.parent.glob("*.broken-*")] \
        == [database.name]
