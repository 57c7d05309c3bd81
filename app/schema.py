"""Applying the one Alembic history in ``migrations/``. The app never calls ``create_all``."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    return config


def upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


def head_revision() -> str | None:
    """The newest migration in ``migrations/``: what ``upgrade`` brings a database to."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()
