"""Starting the server: `make run` says where the shop is served once gunicorn listens there,
and not at all when the port is taken (it used to print the line before gunicorn had even
tried); a bad PORT, WORKERS, THREADS, CONNECTIONS or IDLE_TIMEOUT stops the start with one
line naming it, before anything starts."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from tests.e2e import gunicorn
from tests.e2e.conftest import log_tail

pytestmark = pytest.mark.server
ADMIN = "e2e-serving-line-admin-token"
GIVE_UP_SECONDS = 60  # gunicorn tries to bind a taken port five times, a second apart


def until_it_exits(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], str]:
    """gunicorn run in the foreground until it gives up, and all it said."""
    done = subprocess.run([str(gunicorn.BIN / "gunicorn"), "--config", "gunicorn.conf.py",
                           "wsgi:app"], cwd=gunicorn.ROOT, env=env, capture_output=True,
                          text=True, timeout=GIVE_UP_SECONDS)
    return done, (done.stdout + done.stderr).strip()


def test_the_serving_line_comes_when_the_server_listens(tmp_path: Path) -> None:
    env = gunicorn.environment(f"sqlite:///{tmp_path / 'shop.db'}", ADMIN, gunicorn.free_port())
    gunicorn.init(env)
    log = tmp_path / "server.log"
    with gunicorn.running(env, log):
        lines = [line for line in log.read_text().splitlines() if "orderflow serving on" in line]
    assert [f"http://127.0.0.1:{env['PORT']}" in line for line in lines] == [True], log_tail(log)


def test_a_taken_port_stops_the_server_without_saying_it_serves(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = gunicorn.environment(f"sqlite:///{tmp_path / 'shop.db'}", ADMIN, port)
        gunicorn.init(env)
        done, said = until_it_exits(env)
    assert done.returncode != 0 and "serving on" not in said, said
    assert f"Connection in use: ('127.0.0.1', {port})" in said, said


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "abc"), ("PORT", "0"), ("PORT", "70000"), ("WORKERS", "0"), ("WORKERS", "two"),
    ("THREADS", "0"), ("THREADS", "-1"), ("CONNECTIONS", "1"), ("IDLE_TIMEOUT", "0")])
def test_a_bad_server_setting_stops_the_start_with_one_line_naming_it(
        tmp_path: Path, name: str, value: str) -> None:
    env = {**gunicorn.environment(f"sqlite:///{tmp_path / 'shop.db'}", ADMIN,
                                  gunicorn.free_port()), name: value}
    done, said = until_it_exits(env)
    assert done.returncode != 0 and "Traceback" not in said, said
    assert said.splitlines()[-1].startswith(f"orderflow: {name}={value!r} is not valid"), said
