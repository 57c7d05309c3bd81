"""Alembic environment: every module's tables in one metadata, SQLite in batch mode."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

from app import database_url
from app.config import from_environment
from app.db import make_engine
from app.modules.registry import load_models
from app.schema import ROOT

config = context.config
if config.config_file_name and not config.attributes.get("url"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)
load_models()
target_metadata = SQLModel.metadata


def _url() -> str:
    return config.attributes.get("url") or database_url(from_environment(),
                                                        str(ROOT / "instance"))


def run_migrations_offline() -> None:
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = make_engine(_url())
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
