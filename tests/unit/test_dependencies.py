"""The two locks (requirements/runtime.txt for the image, requirements/dev.txt for working on
it) and the bounds in pyproject.toml that `make lock` compiles them from."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
DEV_ONLY = {"pytest", "playwright", "ruff", "import-linter", "uv", "pip-audit", "pyyaml",
            "standardwebhooks"}


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(lock: str) -> dict[str, str]:
    found = {}
    for line in (ROOT / "requirements" / lock).read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[match[1].lower().replace("_", "-")] = match[2]
    return found


def hashed_entries(lock: str) -> list[str]:
    """Each pinned requirement with its continuation lines, as pip reads it."""
    text = (ROOT / "requirements" / lock).read_text().replace("\\\n", " ")
    return [line for line in text.splitlines() if PIN.match(line)]


def test_every_direct_dependency_has_an_upper_bound() -> None:
    declared = project()["dependencies"] + project()["optional-dependencies"]["dev"]
    unbounded = [spec for spec in declared
                 if not any(s.operator in ("<", "<=", "==", "~=")
                            for s in Requirement(spec).specifier)]
    assert unbounded == []


def test_both_locks_pin_every_package_with_hashes() -> None:
    for lock in ("runtime.txt", "dev.txt"):
        entries = hashed_entries(lock)
        assert entries, lock
        assert [entry for entry in entries if "--hash=sha256:" not in entry] == [], lock


def test_the_runtime_lock_holds_the_runtime_dependencies_and_no_dev_tool() -> None:
    runtime = pins("runtime.txt")
    wanted = {Requirement(spec).name.lower() for spec in project()["dependencies"]}
    assert wanted <= set(runtime)
    assert DEV_ONLY & set(runtime) == set()


def test_the_dev_lock_holds_every_runtime_pin_unchanged_and_the_dev_tools() -> None:
    runtime, dev = pins("runtime.txt"), pins("dev.txt")
    assert {name: dev.get(name) for name in runtime} == runtime
    assert set(dev) >= DEV_ONLY


def test_both_locks_say_the_command_that_made_them() -> None:
    for lock in ("runtime.txt", "dev.txt"):
        assert "make lock" in (ROOT / "requirements" / lock).read_text()[:400]
