"""Orders that are mid-flow survive a restart of the real server, in every style.

One SQLite file, two gunicorn processes one after the other, a manual clock (system time plus an
offset kept in the database, so it survives the restart). Before the stop, orders wait on
everything a flow can wait on: a clarification task (answered after the restart), the 7-day price
hold, a retry, a parked delivery (dead letter), a VIP invoice; and a burst of orders is placed
just before the stop (which of them are still in flight when the process goes is up to timing).
The stop is a graceful SIGTERM, or a SIGKILL of master and worker. While the server is down,
``orderflow advance P4D`` moves the clock past some price holds: the command fires them, and the
second process must deliver what they caused. After the start every order must reach its
expected end, with stock and money consistent.

Retries wait an hour of the manual clock (``ORDERFLOW_RETRY_BASE=PT1H``, factor 1), so nothing is
retried by wall time during the test: the test moves the clock to let retries run, and which
process makes which attempt is decided, not raced. The simulated payment provider keeps its
attempt counts in its own tables (ADR 0020), so after the restart ``tok_flaky`` fails only
its remaining time and ``tok_outage`` answers the operator's first retry; the operator retries
the dead letters until the provider answers, as one would while a provider is still down."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import wait_for
from tests.e2e.conftest import log_tail
from tests.e2e.gunicorn import BIN, ROOT, free_port, healthy
from tests.e2e.test_server import HOME, STYLES, call

pytestmark = pytest.mark.server

ADMIN = f"e2e-restart-{uuid.uuid4().hex}"
RETRY_EVERY = "PT1H"  # ORDERFLOW_RETRY_BASE, with ORDERFLOW_RETRY_FACTOR=1: every wait is this
MAX_ATTEMPTS = 5      # ORDERFLOW_RETRY_MAX_ATTEMPTS: tok_outage fails this many times per key
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
SETTLE_TIMEOUT = 15.0
DELIVERED, EXPIRED = ("delivered", None), ("cancelled", "price_hold_expired")
DECLINED = ("cancelled", "payment_declined")


# --- the app as a process that can be stopped and started again ----------------------------------
@dataclass
class App:
    log: Path  # both runs and the CLI write here; tests/e2e/conftest.py attaches its tail
    env: dict[str, str]
    url: str = ""
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0
    target: str = "wsgi:app"  # the WSGI app gunicorn loads

    def note(self, text: str) -> None:
        with self.log.open("a") as sink:
            sink.write(f"\n===== test: {text} =====\n")

    def cli(self, *args: str) -> str:
        self.note(f"orderflow {' '.join(args)}")
        done = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "orderflow", *args],
                              cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60)
        with self.log.open("a") as sink:
            sink.write(done.stdout + done.stderr)
        assert done.returncode == 0, f"orderflow {args} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self) -> None:
        assert self.process is None
        self.runs += 1
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.note(f"start server #{self.runs} on port {port}")
        with self.log.open("ab") as sink:  # its own session: a SIGKILL reaches master and worker
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "--no-control-socket",
                 self.target],
                cwd=ROOT, env={**self.env, "PORT": str(port)}, stdout=sink,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while not healthy(self.url):
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n"
                            f"{log_tail(self.log)}")
            if time.monotonic() > deadline:
                pytest.fail(f"/healthz did not answer 200 within {START_TIMEOUT}s")
            time.sleep(0.05)

    def stop(self, how: signal.Signals) -> None:
        """SIGTERM: gunicorn's graceful stop (the dispatcher hands back its claims). SIGKILL:
        master and worker die at once, mid-whatever; their leases must run out."""
        process, self.process = self.process, None
        assert process is not None
        self.note(f"stop server #{self.runs} with {how.name}")
        if how == signal.SIGKILL:
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.send_signal(how)
        try:
            code = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill(process)
            pytest.fail(f"gunicorn did not stop within {STOP_TIMEOUT}s of {how.name}")
        if how == signal.SIGTERM:
            assert code == 0, f"gunicorn exited with {code} after SIGTERM"
        self.kill(process)  # nothing of its process group may outlive it

    @staticmethod
    def kill(process: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)

    # --- HTTP ---
    def get(self, path: str) -> Any:
        status, body = call("GET", f"{self.url}{path}", token=ADMIN)
        assert status == 200, (path, status, body)
        return body

    def post(self, path: str, body: Any, expect: int = 200) -> Any:
        status, answer = call("POST", f"{self.url}{path}", body, token=ADMIN)
        assert status == expect, (path, status, answer)
        return answer

    def now(self) -> datetime:
        return datetime.fromisoformat(self.get("/api/clock")["now"])

    def advance(self, by: str) -> int:
        return self.post("/api/clock/advance", {"by": by})["deadlines_fired"]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[App]:
    """Named ``server`` so that tests/e2e/conftest.py attaches the log to a failure."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith("ORDERFLOW_") and name not in ("WORKERS", "THREADS")}
    env.update({"ORDERFLOW_RATE_LIMIT_ADMIN": "off",  # it retries every dead letter at once
                "ORDERFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
                "ORDERFLOW_ADMIN_TOKEN": ADMIN,
                "ORDERFLOW_DISPATCH": "background",
                "ORDERFLOW_CLOCK": "manual",
                "ORDERFLOW_RETRY_BASE": RETRY_EVERY, "ORDERFLOW_RETRY_FACTOR": "1",
                "ORDERFLOW_RETRY_MAX_ATTEMPTS": str(MAX_ATTEMPTS),
                "ORDERFLOW_PRICE_HOLD": "P7D", "ORDERFLOW_INVOICE_TERM": "P30D",
                "ORDERFLOW_ACCESS_LOG": "0",  # keep the log's tail for the dispatcher's words
                "HOST": "127.0.0.1", "WORKERS": "1", "PYTHONUNBUFFERED": "1"})
    app = App(tmp_path / "server.log", env)
    app.log.touch()
    try:
        yield app
    finally:
        if app.process is not None:
            app.kill(app.process)


# --- the orders ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Kind:
    token: str = "tok_ok"
    flow: str = "sequential"
    vip: bool = False
    items: tuple[tuple[str, int], ...] = (("sku-1", 1),)
    end: tuple[str, str | None] = DELIVERED


KINDS = {
    # placed at T0; their price hold (T0+7D) runs out while the server is down
    "expire": Kind("tok_clarify", items=(("sku-2", 1),), end=EXPIRED),
    "expire-parallel": Kind("tok_clarify", "parallel", items=(("sku-2", 2), ("sku-3", 1)),
                            end=EXPIRED),
    # placed at T0+4D: parked before the stop, retried by the operator after the start
    "outage": Kind("tok_outage", items=(("sku-3", 1),)),
    # placed at T0+4D4H: still inside their price hold after the restart
    "approve": Kind("tok_clarify", items=(("sku-1", 1),)),
    "approve-parallel": Kind("tok_clarify", "parallel", items=(("sku-3", 2),)),
    "decline-parallel": Kind("tok_clarify", "parallel", items=(("sku-2", 1), ("sku-4", 2)),
                             end=DECLINED),
    "flaky": Kind("tok_flaky", items=(("sku-1", 2),)),
    "vip": Kind(vip=True, items=(("sku-4", 1),)),
    # placed all at once just before the stop, some still in flight when the process goes
    "burst": Kind(items=(("sku-1", 1), ("sku-3", 1))),
}
BURST_PER_STYLE = 4
WAITING_FOR_THE_CALL_CENTRE = ("expire", "expire-parallel", "approve", "approve-parallel",
                               "decline-parallel")
ANSWERED_AFTER_THE_RESTART = ("approve", "approve-parallel", "decline-parallel")


@dataclass
class Placed:
    id: str
    kind: str
    style: str
    total: str
    items: tuple[tuple[str, int], ...]

    @property
    def end(self) -> tuple[str, str | None]:
        return KINDS[self.kind].end


@dataclass
class Book:
    orders: list[Placed] = field(default_factory=list)

    def of(self, *kinds: str) -> list[Placed]:
        return [o for o in self.orders if o.kind in kinds]

    def ids(self, *kinds: str) -> list[str]:
        return [o.id for o in self.of(*kinds)] if kinds else [o.id for o in self.orders]


def place(app: App, book: Book, kind: str, style: str) -> Placed:
    spec = KINDS[kind]
    status, body = call("POST", f"{app.url}/api/orders", {
        "customer": {"id": f"c-{kind}", "name": "Ada Lovelace", "address": HOME,
                     "vip": spec.vip},
        "items": [{"sku": sku, "quantity": quantity} for sku, quantity in spec.items],
        "payment": {"token": spec.token}, "style": style, "flow": spec.flow})
    assert status == 202, body
    placed = Placed(body["id"], kind, style, body["total"], spec.items)
    book.orders.append(placed)
    return placed


def place_every_style(app: App, book: Book, *kinds: str) -> None:
    for kind in kinds:
        for style in STYLES:
            place(app, book, kind, style)


# --- what can be observed -----------------------------------------------------------------------
def order(app: App, order_id: str) -> dict[str, Any]:
    return app.get(f"/api/orders/{order_id}")


def ending(app: App, order_id: str) -> tuple[str, str | None]:
    current = order(app, order_id)
    return current["status"], current["reason"]


def timeline(app: App, order_id: str) -> list[dict[str, Any]]:
    return app.get(f"/api/orders/{order_id}/timeline")["messages"]


def short(message: dict[str, Any]) -> str:
    return message["event"]["type"].rsplit(".", 1)[-1]


def collecting(app: App, order_id: str) -> dict[str, Any]:
    """Payment's delivery that collects the money (OrderPlaced in choreography,
    RetrievePayment otherwise)."""
    return next(d for m in timeline(app, order_id)
                if short(m) in ("OrderPlaced", "RetrievePayment")
                for d in m["deliveries"] if d["module"] == "payment")


def stock(app: App) -> dict[str, int]:
    return {item["sku"]: item["available"] for item in app.get("/api/catalog")["items"]}


def quiet(app: App, order_ids: list[str]) -> bool:
    """Nothing runs or is due for these orders: every delivery is done, parked, or waiting for a
    retry that the clock has not reached. Only time or an operator can move them now."""
    now = app.now()
    for order_id in order_ids:
        for message in timeline(app, order_id):
            for delivery in message["deliveries"]:
                if delivery["status"] in ("done", "parked"):
                    continue
                waiting = delivery["status"] == "failed" and \
                    datetime.fromisoformat(delivery["next_attempt_at"]) > now
                if not waiting:
                    return False
    return True


def settle(app: App, order_ids: list[str], what: str) -> None:
    try:
        wait_for(lambda: quiet(app, order_ids), timeout=SETTLE_TIMEOUT, every=0.05, what=what)
    except AssertionError as error:
        busy = {order_id: [(short(m), d["receiver"], d["status"], d["attempts"],
                            d["next_attempt_at"], d["last_error"])
                           for m in timeline(app, order_id) for d in m["deliveries"]
                           if d["status"] != "done"]
                for order_id in order_ids}
        raise AssertionError(f"{error}; clock={app.now()}; "
                             f"{ {k: v for k, v in busy.items() if v} }") from None


def open_tasks(app: App) -> dict[str, dict[str, Any]]:
    return {task["order_id"]: task for task in app.get("/api/tasks?status=open&limit=200")["items"]}


def dead_letters(app: App) -> dict[str, dict[str, Any]]:
    letters = app.get("/api/deadletters?limit=200")["items"]
    assert len({letter["order_id"] for letter in letters}) == len(letters), letters
    return {letter["order_id"]: letter for letter in letters}


# --- the test -----------------------------------------------------------------------------------
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_orders_mid_flow_reach_their_end_across_a_restart(server: App,
                                                          how: signal.Signals) -> None:
    app, book = server, Book()
    app.cli("init")
    app.start()
    initial = stock(app)

    # --- run 1: bring every order to the point where it waits -----------------------------------
    place_every_style(app, book, "expire", "expire-parallel")  # T0
    settle(app, book.ids(), "the first orders waiting for the call centre")
    assert app.advance("P4D") == 0  # T0+4D: no price hold is due yet

    place_every_style(app, book, "outage")
    settle(app, book.ids("outage"), "the first attempt at tok_outage")
    for attempt in range(2, MAX_ATTEMPTS + 1):  # the automatic retries, an hour apart
        assert app.advance(RETRY_EVERY) == 0
        settle(app, book.ids("outage"), f"attempt {attempt} at tok_outage")
        assert [collecting(app, o)["attempts"] for o in book.ids("outage")] == [attempt] * 3

    place_every_style(app, book, *ANSWERED_AFTER_THE_RESTART, "flaky", "vip")
    settle(app, book.ids(), "every order waiting")

    for placed in book.orders:  # each waits where it should
        current, messages = order(app, placed.id), timeline(app, placed.id)
        types = [short(m) for m in messages]
        where = (placed.kind, placed.style, current["status"], types)
        if placed.kind in WAITING_FOR_THE_CALL_CENTRE:
            assert current["status"] == "payment_clarification", where
            assert ("GoodsFetched" in types) == (KINDS[placed.kind].flow == "parallel"), where
            assert "PaymentReceived" not in types, where
        elif placed.kind in ("outage", "flaky"):
            assert current["status"] == "placed", where
            payment = collecting(app, placed.id)
            assert payment["status"] == ("parked" if placed.kind == "outage" else "failed"), \
                (where, payment)
            assert KINDS[placed.kind].token in payment["last_error"], payment
            assert (current["stuck"] is not None) == (placed.kind == "outage"), where
        else:  # vip: delivered first, pays later
            assert current["status"] == "delivered", where
            (invoice,) = app.get(f"/api/invoices?order_id={placed.id}")["items"]
            assert (invoice["status"], invoice["amount"]) == ("open", placed.total), invoice
    assert set(open_tasks(app)) == set(book.ids(*WAITING_FOR_THE_CALL_CENTRE))
    assert set(dead_letters(app)) == set(book.ids("outage"))
    taken = Counter()  # parallel orders picked their goods while the payment waits; VIPs shipped
    for placed in book.of(*[kind for kind, spec in KINDS.items() if spec.flow == "parallel"],
                          "vip"):
        taken.update(dict(placed.items))
    assert stock(app) == {sku: initial[sku] - taken[sku] for sku in initial}

    with ThreadPoolExecutor(max_workers=6) as pool:  # a burst, still in flight at the stop
        list(pool.map(lambda style: place(app, book, "burst", style),
                      [style for style in STYLES for _ in range(BURST_PER_STYLE)]))
    app.stop(how)

    # --- down: the clock moves on; the first price holds fall due -------------------------------
    said = app.cli("advance", "P4D")  # T0+8D4H: past T0+7D, not past T0+4D4H+7D
    assert f"{len(book.of('expire', 'expire-parallel'))} deadline(s) fired" in said, said

    # --- run 2: everything goes on from where it was --------------------------------------------
    app.start()
    assert set(dead_letters(app)) == set(book.ids("outage"))  # parked survives the restart
    expired = book.ids("expire", "expire-parallel")
    settle(app, expired, "the expired price holds handled")
    assert set(open_tasks(app)) == set(book.ids(*ANSWERED_AFTER_THE_RESTART))
    for task in app.get("/api/tasks?status=cancelled&limit=200")["items"]:  # too late now
        refused = app.post(f"/api/tasks/{task['id']}/complete", {"outcome": "approved"},
                           expect=409)
        assert refused["code"] == "task_closed", refused

    declining = set(book.ids("decline-parallel"))
    for order_id, task in open_tasks(app).items():  # the call centre answers
        outcome = "declined" if order_id in declining else "approved"
        done = app.post(f"/api/tasks/{task['id']}/complete", {"outcome": outcome})
        assert (done["status"], done["order_id"]) == (outcome, order_id), done
    for placed in book.of("vip"):  # VIP customers pay their invoice
        (invoice,) = app.get(f"/api/invoices?order_id={placed.id}")["items"]
        assert app.post(f"/api/invoices/{invoice['id']}/pay", None)["status"] == "paid"

    for _ in range(MAX_ATTEMPTS + 1):  # the operator retries until the provider is back
        letters = dead_letters(app)
        if not letters:
            break
        for letter in letters.values():
            app.post(f"/api/deadletters/{letter['id']}/retry", None, expect=202)
        settle(app, list(letters), "an operator's retry")
    assert dead_letters(app) == {}

    flaky = book.ids("flaky")
    for _ in range(MAX_ATTEMPTS):  # tok_flaky's retries, an hour apart on the manual clock
        settle(app, flaky, "a retry of tok_flaky")
        if all(ending(app, o) == DELIVERED for o in flaky):
            break
        assert app.advance(RETRY_EVERY) == 0
    settle(app, book.ids(), "every order at its end")

    # --- every order at its end, stock and money consistent -------------------------------------
    endings = {(o.kind, o.style, o.id): ending(app, o.id) for o in book.orders}
    assert endings == {(o.kind, o.style, o.id): o.end for o in book.orders}
    delivered = Counter()
    for placed in book.of(*[kind for kind, spec in KINDS.items() if spec.end == DELIVERED]):
        delivered.update(dict(placed.items))
    assert stock(app) == {sku: initial[sku] - delivered[sku] for sku in initial}

    for placed in book.orders:
        money = app.get(f"/api/payments?order_id={placed.id}")
        payments, refunds = money["items"], money["refunds"]
        where = (placed.kind, placed.style, money)
        received = [p for p in payments if p["status"] == "received"]
        if placed.kind == "vip":  # paid by invoice, never by card
            assert payments == [] and refunds == [], where
            (invoice,) = app.get(f"/api/invoices?order_id={placed.id}")["items"]
            assert (invoice["status"], invoice["amount"]) == ("paid", placed.total), invoice
        elif placed.end == DELIVERED:
            assert [p["amount"] for p in received] == [placed.total], where
            assert len(payments) == 1 and refunds == [], where
        else:  # declined, or the clarification was stopped: nothing collected, nothing given back
            expected = "declined" if placed.end == DECLINED else "cancelled"
            assert [p["status"] for p in payments] == [expected], where
            assert refunds == [], where
        for message in timeline(app, placed.id):
            assert all(d["status"] == "done" for d in message["deliveries"]), \
                (placed.kind, placed.style, short(message), message["deliveries"])
        deadlines = order(app, placed.id)["deadlines"]
        assert all(d["status"] in ("fired", "cancelled") for d in deadlines), (where, deadlines)

    for placed in book.of("expire", "expire-parallel", "decline-parallel"):
        types = [short(m) for m in timeline(app, placed.id)]
        cause = "PaymentFailed" if placed.end == DECLINED else "PriceHoldExpired"
        assert cause in types and "GoodsShipped" not in types, (placed, types)
        assert ("GoodsReleased" in types) == (KINDS[placed.kind].flow == "parallel"), types
        # payment lets the held charge go and says so with PaymentFailed, in every style; no
        # payment is cancelled on an order's command here
        assert "PaymentFailed" in types and "PaymentCancelled" not in types, types
    tasks = {status: {t["order_id"] for t in
                      app.get(f"/api/tasks?status={status}&limit=200")["items"]}
             for status in ("cancelled", "approved", "declined", "open")}
    assert tasks == {"cancelled": set(expired), "approved": set(book.ids("approve",
                                                                         "approve-parallel")),
                     "declined": declining, "open": set()}
    for placed in book.of("flaky", "outage"):  # attempts made in both processes
        attempts = collecting(app, placed.id)["attempts"]
        assert attempts > (1 if placed.kind == "flaky" else MAX_ATTEMPTS), (placed, attempts)

    # nothing is left scheduled: a month later, no deadline fires and every order stays put
    assert app.advance("P30D") == 0
    settle(app, book.ids(), "a quiet month")
    assert {(o.kind, o.style, o.id): ending(app, o.id) for o in book.orders} == endings
