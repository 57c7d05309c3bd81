"""Chaos: real servers, clients that retry with Idempotency-Key, SIGKILLs, then the invariants
read from the database. Nothing is lost or done twice, and every order settles without an
operator:

    python scripts/chaos.py [--orders 2000] [--kills 20] [--processes 3] [--database-url URL]

Each server is `gunicorn` with WORKERS=2 on a port of its own, all on one database. A killer
SIGKILLs a random worker (gunicorn starts another) or, every third time, a whole server (which
is started again on its port), spread evenly over the intake. Clients place orders in every
style and flow shape with tokens that succeed, decline or fail twice, and some undeliverable
addresses; on a connection error, a timeout or a 5xx they send the same request with the same
key to another server until one answers 2xx. Exit 1 when an invariant fails."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
sys.path.insert(0, str(ROOT))
from app.db import make_engine  # noqa: E402

ADMIN = "chaos-admin-token-0123456789"
TOKENS = ["tok_ok"] * 6 + ["tok_flaky"] * 2 + ["tok_decline"]
STYLES, FLOWS = ("choreography", "orchestration", "hybrid"), ("sequential", "parallel")
STOCK = 1_000_000  # every sku but the last: plenty, so out_of_stock comes from one sku only
SCARCE = 25
POLL = 0.25


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(url: str, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERFLOW_")}
    env.update({"ORDERFLOW_DATABASE_URL": url, "ORDERFLOW_DATA_DIR": str(folder),
                "ORDERFLOW_ADMIN_TOKEN": ADMIN, "ORDERFLOW_DISPATCH": "background",
                "ORDERFLOW_RATE_LIMIT_INTAKE": "off", "ORDERFLOW_RATE_LIMIT_ADMIN": "off",
                "ORDERFLOW_RETRY_BASE": "PT0.2S", "ORDERFLOW_RETRY_FACTOR": "1.5",
                "ORDERFLOW_LEASE": "PT3S", "ORDERFLOW_LOG_FORMAT": "text",
                "WORKERS": "2", "THREADS": "8", "HOST": "127.0.0.1"})
    return env


@dataclass
class Server:
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [str(BIN / "gunicorn"), "--config", "gunicorn.conf.py", "wsgi:app"], cwd=ROOT,
                env={**self.env, "PORT": str(self.port)}, stdout=sink, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + 60
        while not healthy(self.url):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit(f"chaos: the server on {self.port} did not start; see {self.log}")
            time.sleep(POLL)

    def workers(self) -> list[int]:
        found = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True,
                               text=True).stdout.split()
        return [int(pid) for pid in found]

    def kill_all(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


def call(url: str, method: str = "GET", body: dict | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {ADMIN}",
        **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=15) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {}


@dataclass
class Run:
    servers: list[Server]
    orders: int
    placed: dict[str, str] = field(default_factory=dict)  # key -> order id
    retries: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


def order_body(rng: random.Random, skus: list[str]) -> dict:
    address = "1 UNDELIVERABLE Road" if rng.random() < 0.05 else "1 Main Street, Springfield"
    items = [{"sku": sku, "quantity": rng.randint(1, 2)} for sku in rng.sample(skus, 2)]
    return {"customer": {"id": f"c-{rng.randint(1, 50)}", "name": "Chaos Monkey",
                         "address": address}, "items": items,
            "payment": {"token": rng.choice(TOKENS)}, "style": rng.choice(STYLES),
            "flow": rng.choice(FLOWS)}


def place(run: Run, body: dict, seed: int) -> None:
    rng, key = random.Random(seed), str(uuid.UUID(int=random.Random(seed).getrandbits(128)))
    while True:
        server = rng.choice(run.servers)
        try:
            status, answer = call(f"{server.url}/api/orders", "POST", body,
                                  {"Idempotency-Key": key})
        except (OSError, http.client.HTTPException):  # refused, reset, or cut off mid-answer
            status, answer = 0, {}
        if 200 <= status < 300:
            with run.lock:
                run.placed[key] = answer["id"]
            return
        if 400 <= status < 500 and status not in (408, 429):
            raise SystemExit(f"chaos: an order was refused with {status}: {body}")
        with run.lock:
            run.retries[str(status or "connection")] += 1
        time.sleep(0.1)


def kill_now(run: Run, number: int, rng: random.Random) -> None:
    server = rng.choice(run.servers)
    if number % 3 == 2:
        server.kill_all()
        run.kills["server"] += 1
        server.start()
        return
    found = server.workers()
    for worker in rng.sample(found, k=len(found)):
        try:
            os.kill(worker, signal.SIGKILL)
        except ProcessLookupError:  # gone since we looked (gunicorn replaced it): the next
            continue
        run.kills["worker"] += 1
        return


def killer(run: Run, kills: int, seed: int, done: threading.Event) -> None:
    rng = random.Random(seed)
    for number in range(kills):
        mark = (number + 1) * run.orders // (kills + 1)
        while len(run.placed) < mark and not done.is_set():
            time.sleep(0.05)
        kill_now(run, number, rng)


def stock_up(url: str) -> tuple[list[str], dict[str, int]]:
    _, catalogue = call(f"{url}/api/catalog")
    skus = sorted(item["sku"] for item in catalogue["items"])
    for sku in skus:
        call(f"{url}/api/catalog/{sku}", "PUT",
             {"price": "9.90", "stock": SCARCE if sku == skus[-1] else STOCK})
    return skus, {sku: SCARCE if sku == skus[-1] else STOCK for sku in skus}


_OPEN_ORDERS = text("SELECT count(*) FROM orders_order WHERE status NOT IN "
                    "('delivered', 'cancelled')")
_WAITING_DELIVERIES = text("SELECT count(*) FROM bus_delivery WHERE status IN "
                           "('pending', 'failed')")


def settle(engine, timeout: float) -> float:  # type: ignore[no-untyped-def]
    """Seconds until every order has ended and nothing is left to deliver: an order ends
    before its compensation (a refund, goods going back) is done, so its status alone says
    too little. -1 when the timeout passes first."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with engine.connect() as db:
            busy = db.execute(_OPEN_ORDERS).scalar() or db.execute(_WAITING_DELIVERIES).scalar()
        if not busy:
            return time.monotonic() - started
        time.sleep(POLL)
    return -1.0


def checks(engine, run: Run, stock: dict[str, int]) -> list[tuple[str, bool, str]]:  # type: ignore[no-untyped-def]
    with engine.connect() as db:
        q = lambda sql: db.execute(text(sql)).all()  # noqa: E731
        orders = {row.id: row for row in q("SELECT id, status, reason, total_cents FROM "
                                            "orders_order")}
        keys = q("SELECT key, order_id FROM orders_idempotency_key")
        parked = q("SELECT receiver, count(*) AS n FROM bus_delivery WHERE status = 'parked' "
                   "GROUP BY receiver")
        waiting = db.execute(_WAITING_DELIVERIES).scalar()
        net = money_by_order(q)
        left = {row.sku: row.stock for row in q("SELECT sku, stock FROM inventory_item")}
        taken = taken_by_sku(q)
        shipped = Counter(row.k[5:] for row in q(
            "SELECT idempotency_key AS k FROM sim_carrier_consignment WHERE accepted"))
    lost = [oid for oid in run.placed.values() if oid not in orders]
    unsettled = [oid for oid, row in orders.items() if row.status not in ("delivered",
                                                                          "cancelled")]
    wrong_money = [oid for oid, row in orders.items()
                   if net.get(oid, 0) != (row.total_cents if row.status == "delivered" else 0)]
    wrong_parcels = [oid for oid, row in orders.items()
                     if shipped[oid] != (1 if row.status == "delivered" else 0)]
    drift = {sku: (stock[sku], left[sku], taken.get(sku, 0)) for sku in stock
             if stock[sku] != left[sku] + taken.get(sku, 0)}
    endings = Counter(f"{row.status}" + (f" ({row.reason})" if row.reason else "")
                      for row in orders.values())
    return [
        ("endings", True, ", ".join(f"{n} {ending}" for ending, n in endings.most_common())),
        ("none lost", not lost, f"{len(run.placed)} answered 2xx, {len(lost)} missing"),
        ("none duplicated", len(keys) == len(orders) == len(run.placed)
         and len({k.order_id for k in keys}) == len(keys),
         f"{len(run.placed)} keys, {len(keys)} stored, {len(orders)} orders"),
        ("all settled", not unsettled and not waiting, f"{len(unsettled)} not delivered or "
         f"cancelled, {waiting} deliveries still waiting"),
        ("no dead letters", not parked, ", ".join(f"{r.receiver}: {r.n}" for r in parked)
         or "none"),
        ("money once", not wrong_money, f"{len(wrong_money)} orders whose net charge is not "
         f"their total (delivered) or zero (cancelled): {wrong_money[:3]}"),
        ("one parcel per delivered order", not wrong_parcels, f"{len(wrong_parcels)} wrong: "
         f"{wrong_parcels[:3]}"),
        ("stock conserved", not drift, f"{len(drift)} skus off: {drift}"),
    ]


def money_by_order(q) -> dict[str, int]:  # type: ignore[no-untyped-def]
    net: Counter[str] = Counter()
    for row in q("SELECT idempotency_key AS k, amount_cents AS c FROM sim_provider_charge "
                 "WHERE status = 'succeeded' AND idempotency_key LIKE 'charge:%'"):
        net[row.k.split(":", 1)[1]] += row.c
    payments = {row.id: row.order_id for row in q("SELECT id, order_id FROM payment_payment")}
    for row in q("SELECT idempotency_key AS k, amount_cents AS c FROM sim_provider_refund"):
        kind, rest = row.k.split(":", 1)
        order_id = payments.get(rest) if kind == "refund" else rest.split(":", 1)[-1]
        net[order_id or rest] -= row.c
    return dict(net)


def taken_by_sku(q) -> dict[str, int]:  # type: ignore[no-untyped-def]
    taken: Counter[str] = Counter()
    for row in q("SELECT lines FROM inventory_pick WHERE status = 'fetched'"):
        lines = row.lines if isinstance(row.lines, list) else json.loads(row.lines)
        for line in lines:
            taken[line["sku"]] += line["quantity"]
    return dict(taken)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--processes", type=int, default=3)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--database-url")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settle-timeout", type=float, default=300.0)
    options = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="orderflow-chaos-"))
    url = options.database_url or f"sqlite:///{folder / 'shop.db'}"
    env = environment(url, folder)
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", "orderflow", "init"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    servers = [Server(free_port(), env, folder / f"server-{n}.log")
               for n in range(options.processes)]
    for server in servers:
        server.start()
    try:
        return exercise(options, servers, url, folder)
    finally:
        for server in servers:
            server.stop()


def exercise(options, servers: list[Server], url: str, folder: Path) -> int:  # type: ignore[no-untyped-def]
    skus, stock = stock_up(servers[0].url)
    run, rng, done = Run(servers, options.orders), random.Random(options.seed), threading.Event()
    bodies = [order_body(rng, skus) for _ in range(options.orders)]
    started = time.monotonic()
    chaos = threading.Thread(target=killer, args=(run, options.kills, options.seed, done))
    chaos.start()
    with ThreadPoolExecutor(options.clients) as clients:
        list(clients.map(lambda n: place(run, bodies[n], options.seed * 1_000_003 + n),
                         range(options.orders)))
    done.set()
    chaos.join()
    intake = time.monotonic() - started
    engine = make_engine(url)
    settled = settle(engine, options.settle_timeout)
    results = checks(engine, run, stock)
    engine.dispose()
    report(options, run, intake, settled, results, folder)
    return 0 if all(ok for _, ok, _ in results) else 1


def report(options, run: Run, intake: float, settled: float,  # type: ignore[no-untyped-def]
           results: list[tuple[str, bool, str]], folder: Path) -> None:
    database = "PostgreSQL" if options.database_url else "SQLite"
    print(f"chaos on {database}: {options.processes} server(s) x 2 workers, "
          f"{len(run.placed)} orders from {options.clients} clients in {intake:.1f} s; "
          f"kills: {dict(run.kills)}; client retries: {dict(run.retries)}; "
          f"settled {f'in {settled:.1f} s' if settled >= 0 else 'NOT within the timeout'}")
    for name, ok, detail in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}" if name != "endings"
              else f"  endings: {detail}")
    print(f"  server logs: {folder}")


if __name__ == "__main__":
    sys.exit(main())
