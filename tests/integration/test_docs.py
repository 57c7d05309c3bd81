"""The README's wiring tables are generated from the live signals; this fails when they drift."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from app import wiring_report
from app.modules import MODULES

ROOT = Path(__file__).resolve().parents[2]


def test_the_readme_shows_the_wiring_the_code_has(app: Flask) -> None:
    readme = (ROOT / "README.md").read_text()
    live = app.extensions["orderflow"].bus.wiring
    assert wiring_report.embed(readme, wiring_report.markdown(live)) == readme, (
        "README.md's wiring tables are stale: run `make wiring`")


def test_every_module_has_a_readme_naming_its_messages() -> None:
    for module in MODULES:
        text = (ROOT / "app/modules" / module / "README.md").read_text()
        assert "Publishes" in text and "Listens to" in text, module
