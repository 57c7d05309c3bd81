"""When a test that talks to the real server fails, attach the tail of the server's log to the
failure report, so the traceback and what the server said sit side by side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

LOG_TAIL_LINES = 80


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(no server log: {error})"
    return "\n".join(text.splitlines()[-lines:]) or "(the server log is empty)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        server = getattr(item, "funcargs", {}).get("server")
        log = getattr(server, "log", None)
        if isinstance(log, Path):
            report.sections.append((f"server log (last {LOG_TAIL_LINES} lines of {log})",
                                    log_tail(log)))
    return report
