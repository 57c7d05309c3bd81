"""Driving podman for the container tier: the containers.conf these machines need, the test
base image, building the real Containerfile on it, and one running container (ADR 0019)."""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/orderflow-base:bookworm"
IMAGE = "localhost/orderflow:test"
# Root here lacks CAP_SYS_RESOURCE, so podman 4.3's default nofile limit cannot be set, and crun
# rejects the host's hybrid cgroups: no default ulimits, and runc (see ADR 0019).
CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n'
CONTAINERS_CONF_CRUN = "[containers]\ndefault_ulimits = []\n"


def containers_conf(folder: Path) -> Path:
    path = folder / "containers.conf"
    path.write_text(CONTAINERS_CONF if shutil.which("runc") else CONTAINERS_CONF_CRUN)
    return path


@dataclass
class Podman:
    conf: Path
    timings: dict[str, float] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        import os

        return {**os.environ, "CONTAINERS_CONF": str(self.conf)}

    def __call__(self, *args: str, check: bool = True, timeout: float = 120
                 ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["podman", *args], capture_output=True, text=True,
                                env=self.env(), timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def timed(self, name: str, command: list[str], timeout: float) -> None:
        started = time.monotonic()
        result = subprocess.run(command, capture_output=True, text=True, env=self.env(),
                                timeout=timeout, check=False, cwd=ROOT)
        self.timings[name] = time.monotonic() - started
        if result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n"
                                 f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")

    def ensure_base(self) -> None:
        """Made from Debian's packages once; kept (15-25 s runs instead of 70-130 s)."""
        existed = self("image", "exists", BASE_IMAGE, check=False).returncode == 0
        self.timed("base image" + (" (there already)" if existed else ""),
                   [str(ROOT / "scripts" / "container-base"), BASE_IMAGE], timeout=900)

    def build(self) -> None:
        self.timed("image build", ["podman", "build", "--format", "docker",  # keeps HEALTHCHECK
                                   "--build-arg", f"BASE={BASE_IMAGE}", "--tag", IMAGE,
                                   "--file", "Containerfile", "."], timeout=900)

    def inspect_image(self) -> dict[str, Any]:
        return json.loads(self("image", "inspect", IMAGE).stdout)[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Shop:
    """One container of the image on a named volume, reached on a port of 127.0.0.1."""

    podman: Podman
    volume: str
    admin_token: str
    name: str = field(default_factory=lambda: f"orderflow-test-{secrets.token_hex(4)}")
    port: int = field(default_factory=free_port)

    def start(self) -> None:
        self.name = f"orderflow-test-{secrets.token_hex(4)}"
        self.port = free_port()
        self.podman("run", "--detach", "--name", self.name,
                    "--publish", f"127.0.0.1:{self.port}:8000",
                    "--volume", f"{self.volume}:/data",
                    "--env", f"ORDERFLOW_ADMIN_TOKEN={self.admin_token}", IMAGE)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url(path), data=data, method=method,
                                         headers={"Content-Type": "application/json",
                                                  **(headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def answers(self) -> bool:
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def state(self) -> dict[str, Any]:
        return json.loads(self.podman("inspect", "--format", "{{json .State}}", self.name).stdout)

    def logs(self) -> str:
        result = self.podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def remove(self) -> None:
        self.podman("rm", "--force", "--time", "0", self.name, check=False)
