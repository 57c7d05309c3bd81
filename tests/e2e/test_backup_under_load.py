"""A backup taken while a real gunicorn server (two workers, background dispatch) keeps
accepting orders holds every order accepted before it began, each with a consistent timeline;
restore refuses while that server runs, and works once it is stopped."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import backup, create_app
from app.clock import ManualClock
from app.config import Settings
from tests.conftest import wait_for
from tests.e2e import gunicorn
from tests.e2e.conftest import log_tail
from tests.e2e.test_server import HOME, call

pytestmark = pytest.mark.server

ADMIN = "backup-admin-token"
TERMINAL = ("delivered", "cancelled")
QUIET_TIMEOUT = 120.0


@dataclass
class Live:
    url: str
    db: Path
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    db = tmp_path / "data" / "orderflow.db"
    db.parent.mkdir()
    env = gunicorn.environment(f"sqlite:///{db}", ADMIN, gunicorn.free_port(),
                               ORDERFLOW_STYLE="hybrid", WORKERS="2", THREADS="4")
    gunicorn.init(env)
    log = tmp_path / "server.log"
    with gunicorn.running(env, log) as process:
        yield Live(f"http://127.0.0.1:{env['PORT']}", db, env, log, process)


@dataclass
class Loader:
    """Places orders one after another until told to stop; remembers for each accepted order
    (202) the number of the request that placed it."""

    url: str
    sku: str
    accepted: list[tuple[int, str]] = field(default_factory=list)
    refused: list[object] = field(default_factory=list)
    sent: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        body = {"customer": {"id": "c-load", "name": "Grace Hopper", "address": HOME},
                "items": [{"sku": self.sku, "quantity": 1}], "payment": {"token": "tok_ok"}}
        while not self.stopping.is_set():
            with self.lock:
                number, self.sent = self.sent, self.sent + 1
            status, answer = call("POST", f"{self.url}/api/orders", body, timeout=30)
            with self.lock:
                (self.accepted.append((number, answer["id"])) if status == 202
                 else self.refused.append((status, answer)))

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)

    def ids(self) -> list[str]:
        with self.lock:
            return [order_id for _, order_id in self.accepted]


def rows(db: Path, query: str, *args: object) -> list[tuple]:
    connection = sqlite3.connect(db, timeout=10)
    try:
        return list(connection.execute(query, args))
    finally:
        connection.close()


def history(db: Path) -> dict[str, dict[str, object]]:
    """Per order: its status, its messages' ids and types, its status changes, and how many
    delivery rows each of its messages has."""
    result: dict[str, dict[str, object]] = {}
    for order_id, status in rows(db, "SELECT id, status FROM orders_order"):
        messages = rows(db, "SELECT id, type FROM bus_message WHERE flowid = ? ORDER BY seq",
                        order_id)
        deliveries = dict(rows(db, "SELECT message_id, count(*) FROM bus_delivery WHERE "
                                   "flowid = ? GROUP BY message_id", order_id))
        result[order_id] = {
            "status": status, "messages": [m for m, _ in messages],
            "types": [t.rsplit(".", 1)[-1] for _, t in messages],
            "changes": [s for (s,) in rows(db, "SELECT status FROM orders_status_change WHERE "
                                               "order_id = ? ORDER BY id", order_id)],
            "deliveries": [deliveries.get(m, 0) for m, _ in messages]}
    return result


def quiet(db: Path) -> bool:
    unfinished = rows(db, "SELECT count(*) FROM orders_order WHERE status NOT IN (?, ?)",
                      *TERMINAL)[0][0]
    undone = rows(db, "SELECT count(*) FROM bus_delivery WHERE status != 'done'")[0][0]
    return unfinished == 0 and undone == 0


def orderflow(live: Live, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(gunicorn.BIN / "orderflow"), *args], cwd=gunicorn.ROOT, env=live.env,
                          capture_output=True, text=True, timeout=120)


def test_a_backup_under_load_holds_every_order_accepted_before_it_began(
        live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    status, item = call("PUT", f"{live.url}/api/catalog/sku-load",
                        {"name": "load", "price": "1.00", "stock": 100_000}, token=ADMIN)
    assert status == 201, item
    loader = Loader(live.url, "sku-load")
    placing = threading.Thread(target=loader.run)
    placing.start()
    try:
        wait_for(lambda: loader.count() >= 20, timeout=60, what="20 orders accepted")
        before = loader.ids()  # accepted (202) before the backup began
        monkeypatch.setattr(backup, "STEP_PAGES", 8)  # many steps: writes land between them
        steps: list[int] = []
        snapshot_at: list[int] = []

        def progress(done: int, total: int) -> None:
            steps.append(done)
            if len(steps) == 1:  # the snapshot is held now: the shop must keep accepting
                with loader.lock:
                    snapshot_at.append(loader.sent)
                accepted = loader.count()
                wait_for(lambda: loader.count() >= accepted + 5, timeout=60,
                         what="orders accepted while the backup runs")

        copy = tmp_path / "backups" / "during-load.db"
        started = time.monotonic()
        report = backup.backup(live.db, copy, progress=progress)
        took = time.monotonic() - started
        accepted_by_now = loader.count()
        wait_for(lambda: loader.count() >= accepted_by_now + 5, timeout=60,
                 what="orders accepted after the backup")
    finally:
        loader.stopping.set()
        placing.join(timeout=60)
    assert not loader.refused, loader.refused[:3]
    assert len(steps) > 1 and steps[-1] > 0, steps

    copied = history(copy)
    assert set(before) <= set(copied)  # every order accepted before the backup began
    after_snapshot = {order_id for number, order_id in loader.accepted
                      if number >= snapshot_at[0]}
    assert after_snapshot and not after_snapshot & set(copied)  # a point in time, not a smear
    assert report.orders == len(copied)
    print(f"backup under load: {report.orders} orders, {report.size_bytes:,} bytes, "
          f"{len(steps)} steps, {took:.2f} s")

    restore = orderflow(live, "restore", str(copy))
    assert restore.returncode != 0
    assert "running orderflow is serving" in restore.stderr

    wait_for(lambda: quiet(live.db), timeout=QUIET_TIMEOUT, what="the live shop settling")
    final = history(live.db)
    gunicorn.stop(live.process)
    assert live.process.returncode == 0, log_tail(live.log)

    for order_id, then in copied.items():
        now = final[order_id]
        count = len(then["messages"])  # type: ignore[arg-type]
        assert count >= 1 and then["messages"] == now["messages"][:count], order_id  # type: ignore[index]
        assert then["deliveries"] == now["deliveries"][:count], order_id  # type: ignore[index]
        changes = then["changes"]
        assert changes == now["changes"][: len(changes)], order_id  # type: ignore[index, arg-type]
        assert then["status"] == changes[-1], order_id  # type: ignore[index]
        assert (then["status"] == "delivered") == ("OrderDelivered" in then["types"]), order_id  # type: ignore[operator]
        assert (then["status"] == "cancelled") == ("OrderCancelled" in then["types"]), order_id  # type: ignore[operator]

    restored = orderflow(live, "restore", str(copy))
    assert restored.returncode == 0, restored.stderr
    assert f"orders: {len(copied)}" in restored.stdout
    assert_the_restored_shop_finishes_every_order(live, copied, final)


def assert_the_restored_shop_finishes_every_order(live: Live, copied: dict, final: dict) -> None:
    """Started on the restored file, the shop delivers what the backup caught mid-way (the
    clock an hour on, so the stopped server's leases have run out): the same outcomes."""
    later = ManualClock(datetime.now(UTC) + timedelta(hours=1))
    app = create_app(Settings(database_url=live.env["ORDERFLOW_DATABASE_URL"],
                              dispatch="inline", admin_token=ADMIN), clock=later)
    runtime = app.extensions["orderflow"]
    try:
        runtime.start()
        assert quiet(live.db)
        ended = history(live.db)
    finally:
        runtime.close()
    assert set(ended) == set(copied)
    assert {order_id: ended[order_id]["status"] for order_id in ended} \
        == {order_id: final[order_id]["status"] for order_id in ended}
