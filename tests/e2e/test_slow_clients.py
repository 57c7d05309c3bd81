"""Slow and silent clients against the real server (gunicorn with the waitress worker, two
processes, background dispatch) on both databases: 50 connections that send half a request, or
nothing, or headers and then a body that never comes, do not stop /healthz or order intake from
answering at once; a silent connection is closed after IDLE_TIMEOUT; a body nested too deep is a
400 without a traceback in the log; SIGTERM still stops the server with exit 0 within 8 s while
the slow clients hang on."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import on_every_database, wait_for
from tests.e2e import gunicorn
from tests.e2e.conftest import log_tail
from tests.e2e.test_server import (
    ADMIN,
    Server,
    call,
    new_item,
    place,
)

pytestmark = [pytest.mark.server, on_every_database]

IDLE_CLIENTS = 50
PROMPT_SECONDS = 2.0  # an answer with 50 slow clients connected; measured ~0.02 s (ADR 0024)
IDLE_TIMEOUT_SECONDS = 2
STOP_SECONDS = 8.0
PARTIAL_REQUESTS = {
    "half a request line": b"GET /healthz HT",
    "headers without their end": b"POST /api/orders HTTP/1.1\r\nHost: shop\r\nContent-Ty",
    "a body that never comes": b"POST /api/orders HTTP/1.1\r\nHost: shop\r\nContent-Type: "
                               b"application/json\r\nContent-Length: 4000\r\n\r\n{\"cus",
    "nothing at all": b"",
}


@pytest.fixture
def slow_server(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, subprocess.Popen]]:
    env = gunicorn.environment(database_url, ADMIN, gunicorn.free_port(), THREADS="4",
                               WORKERS="1" if database_url.startswith("sqlite") else "2",
                               IDLE_TIMEOUT=str(IDLE_TIMEOUT_SECONDS))
    gunicorn.init(env)
    log = tmp_path / "server.log"
    with gunicorn.running(env, log, graceful=False) as process:  # a test stops it itself
        yield Server(f"http://127.0.0.1:{env['PORT']}", log), process


def hold_slow_clients(server: Server, partial: bytes, count: int = IDLE_CLIENTS
                      ) -> list[socket.socket]:
    port = int(server.url.rsplit(":", 1)[1])
    clients = []
    for _ in range(count):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(partial)
        clients.append(client)
    return clients


def timed(action):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    result = action()
    return result, time.monotonic() - started


@pytest.mark.parametrize("partial", PARTIAL_REQUESTS.values(), ids=PARTIAL_REQUESTS.keys())
def test_slow_clients_do_not_stop_health_or_intake(slow_server: tuple[Server, subprocess.Popen],
                                                   partial: bytes) -> None:
    server, _ = slow_server
    sku = new_item(server, "slow", stock=3)
    clients = hold_slow_clients(server, partial)
    try:
        (status, _), health_seconds = timed(lambda: call("GET", f"{server.url}/healthz",
                                                         timeout=PROMPT_SECONDS))
        order_id, order_seconds = timed(lambda: place(server, style="choreography",
                                                      items=((sku, 1),)))
    finally:
        for client in clients:
            client.close()
    assert status == 200
    assert health_seconds < PROMPT_SECONDS and order_seconds < PROMPT_SECONDS, (
        health_seconds, order_seconds)
    assert order_id


def test_a_silent_connection_is_closed_after_the_idle_timeout(
        slow_server: tuple[Server, subprocess.Popen]) -> None:
    server, _ = slow_server
    (client,) = hold_slow_clients(server, PARTIAL_REQUESTS["headers without their end"], 1)
    with client:
        client.settimeout(IDLE_TIMEOUT_SECONDS * 5 + 5)
        started = time.monotonic()
        closed = client.recv(1024)  # blocks until the server gives up on it
        waited = time.monotonic() - started
    assert closed == b"" or closed.startswith(b"HTTP/1.1 4"), closed
    assert waited + 0.5 >= IDLE_TIMEOUT_SECONDS and waited < IDLE_TIMEOUT_SECONDS * 5 + 1, waited


def test_a_deep_body_is_a_400_and_the_log_has_no_traceback(
        slow_server: tuple[Server, subprocess.Popen]) -> None:
    server, _ = slow_server
    port = int(server.url.rsplit(":", 1)[1])
    body = b"[" * 330 + b"]" * 330
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(b"POST /api/orders HTTP/1.1\r\nHost: shop\r\nConnection: close\r\n"
                       b"Content-Type: application/json\r\nContent-Length: "
                       + str(len(body)).encode() + b"\r\n\r\n" + body)
        answer = b"".join(iter(lambda: client.recv(4096), b""))
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"nests deeper than 32" in answer
    wait_for(lambda: b"POST /api/orders 400" in server.log.read_bytes(), timeout=5,
             what="the request is logged")
    assert b"Traceback" not in server.log.read_bytes(), log_tail(server.log)


def test_sigterm_stops_within_8_s_with_slow_clients_connected(
        slow_server: tuple[Server, subprocess.Popen]) -> None:
    server, process = slow_server
    clients = [*hold_slow_clients(server, PARTIAL_REQUESTS["a body that never comes"], 10),
               *hold_slow_clients(server, PARTIAL_REQUESTS["nothing at all"], 10)]
    try:
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=STOP_SECONDS + 5)
        took = time.monotonic() - started
    finally:
        for client in clients:
            client.close()
    assert code == 0, log_tail(server.log)
    assert took < STOP_SECONDS, took
    assert b"Traceback" not in server.log.read_bytes(), log_tail(server.log)


def test_a_body_over_the_limit_is_a_413_before_the_app_reads_past_it(
        slow_server: tuple[Server, subprocess.Popen]) -> None:
    server, _ = slow_server
    over_the_limit = call("POST", f"{server.url}/api/orders", {"note": "a" * 70_000})
    far_over_it = call("POST", f"{server.url}/api/orders", {"note": "a" * 200_000})
    assert over_the_limit[0] == 413 and over_the_limit[1]["code"] == "body_too_large"
    assert far_over_it[0] == 413  # waitress itself, before buffering it (ADR 0024)
