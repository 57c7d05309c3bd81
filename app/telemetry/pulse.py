"""Heartbeats of the background loops (the dispatcher's threads, the scheduler's tick), cheap
enough to beat on every pass and every delivery."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

SLACK_SECONDS = 10.0  # a pass may wait this long for SQLite's write lock (its busy timeout)


@dataclass
class Pulse:
    """A loop's heartbeat: when its last pass began (``time.monotonic``), and since when it
    has been busy with one piece of work (None: between pieces)."""

    beat: float = field(default_factory=time.monotonic)
    busy_since: float | None = None

    def view(self, now: float) -> dict[str, float | None]:
        busy = None if self.busy_since is None else round(now - self.busy_since, 3)
        return {"last_pass_seconds_ago": round(now - self.beat, 3), "busy_for_seconds": busy}


def judge(pulse: Pulse, now: float, *, period: float, busy_limit: float,
          work: str = "one piece of work") -> str | None:
    """Why this loop is not alive, or None. Idle: its pass began within three periods plus
    slack. Busy: for less than ``busy_limit`` seconds."""
    if pulse.busy_since is not None:
        busy = now - pulse.busy_since
        return (f"has been in {work} for {busy:.0f} s (limit {busy_limit:.0f} s)"
                if busy > busy_limit else None)
    quiet = now - pulse.beat
    limit = 3 * period + SLACK_SECONDS
    return f"has not begun a pass for {quiet:.0f} s (limit {limit:.0f} s)" if quiet > limit \
        else None
