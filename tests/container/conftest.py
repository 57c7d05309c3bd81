"""The container tier (`make test-container`, pytest -m container): build the Containerfile on
a Debian base made here and run it with podman. Plain `pytest` and `make test` leave it out;
without podman it skips saying why, except under CI, where it must run."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.container.podman import IMAGE, Podman, containers_conf

TIMINGS = pytest.StashKey[dict[str, float]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "container" in (config.option.markexpr or ""):
        return
    leave_out = pytest.mark.skip(reason="the container tier runs with make test-container "
                                        "(pytest -m container)")
    for item in items:
        if item.get_closest_marker("container"):
            item.add_marker(leave_out)


def unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the container tier (.ci/run installs podman)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def podman(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
           ) -> Podman:
    if shutil.which("podman") is None:
        unavailable("podman is not installed (apt-get install podman buildah runc "
                    "mmdebstrap uidmap)")
    if shutil.which("mmdebstrap") is None:
        unavailable("mmdebstrap is not installed: it makes the test base image")
    runner = Podman(containers_conf(tmp_path_factory.mktemp("podman")))
    info = subprocess.run(["podman", "info"], capture_output=True, text=True,
                          env=runner.env(), check=False)
    if info.returncode != 0:
        unavailable(f"podman does not work here: {info.stderr.strip()[-300:]}")
    request.config.stash[TIMINGS] = runner.timings
    return runner


@pytest.fixture(scope="session")
def image(podman: Podman) -> str:
    podman.ensure_base()
    podman.build()
    return IMAGE


@pytest.fixture(scope="session")
def volume(podman: Podman, image: str) -> Iterator[str]:
    name = f"orderflow-test-{os.getpid()}"
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "--force", name, check=False)


def volume_path(podman: Podman, volume: str) -> Path:
    return Path(podman("volume", "inspect", "--format", "{{.Mountpoint}}", volume).stdout.strip())


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    timings = config.stash.get(TIMINGS, None)
    if timings:
        terminalreporter.write_line("container tier: " + ", ".join(
            f"{name} {seconds:.0f} s" for name, seconds in timings.items()))
