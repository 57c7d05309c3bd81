"""A real gunicorn server for the end-to-end tests, started one way: each test file says only
what is particular to its server (its settings, what "ready" means, how it ends)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import wait_for
from tests.e2e.conftest import log_tail

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.prefix) / "bin" if (Path(sys.prefix) / "bin" / "gunicorn").exists() \
    else ROOT / ".venv" / "bin"
START_TIMEOUT = 30.0
# what a developer's shell may set that would change what is tested
_SHELL_PREFIXES = ("ORDERFLOW_", "OTEL_")
_SHELL_NAMES = ("WORKERS", "THREADS", "CONNECTIONS", "IDLE_TIMEOUT", "PROMETHEUS_MULTIPROC_DIR")
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(database_url: str, admin: str, port: int, **settings: str) -> dict[str, str]:
    """The server's environment: this shell's, without its orderflow and server settings, plus
    background dispatch on loopback and ``settings``."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(_SHELL_PREFIXES) and name not in _SHELL_NAMES}
    env.update({"ORDERFLOW_DATABASE_URL": database_url, "ORDERFLOW_ADMIN_TOKEN": admin,
                "ORDERFLOW_DISPATCH": "background", "HOST": "127.0.0.1", "PORT": str(port),
                "PYTHONUNBUFFERED": "1", **settings})
    return env


def init(env: dict[str, str]) -> None:
    done = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "orderflow", "init"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"orderflow init failed:\n{done.stdout}\n{done.stderr}"


def status_of(url: str) -> int | None:
    """The HTTP status of a GET, or None when nothing answers."""
    try:
        with _opener.open(url, timeout=2.0) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:  # refused, reset, timed out
        return None


def healthy(url: str) -> bool:
    return status_of(f"{url}/healthz") == 200


@contextmanager
def running(env: dict[str, str], log: Path, *, ready: Callable[[str], bool] = healthy,
            graceful: bool = True) -> Iterator[subprocess.Popen[bytes]]:
    """gunicorn on ``env["PORT"]`` until ``ready(url)``; stopped at the end with SIGTERM
    (``graceful``) or SIGKILL. A server that exits before it is ready fails the test with the
    tail of its log."""
    url = f"http://127.0.0.1:{env['PORT']}"
    with log.open("wb") as sink:
        process = subprocess.Popen([str(BIN / "gunicorn"), "--config", "gunicorn.conf.py",
                                    "--no-control-socket", "wsgi:app"], cwd=ROOT, env=env,
                                   stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: process.poll() is not None or ready(url), timeout=START_TIMEOUT,
                 what=f"the server on {url} ready")
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}:\n{log_tail(log)}")
        yield process
    finally:
        stop(process) if graceful else kill(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        kill(process)


def kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
