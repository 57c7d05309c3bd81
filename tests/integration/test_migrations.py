"""The one Alembic history builds exactly the tables the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from app import schema
from app.db import make_engine
from app.modules.registry import load_models
from tests.conftest import on_every_database


@on_every_database
def test_migrations_match_the_models(database_url: str) -> None:
    url = database_url
    schema.upgrade(url)
    load_models()
    engine = make_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection),
                                       SQLModel.metadata)
    engine.dispose()
    assert differences == [], "run: alembic revision --autogenerate -m '...'"


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    schema.upgrade(url)
    schema.upgrade(url)
    engine = make_engine(url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"orders_order", "payment_payment", "inventory_item", "shipping_shipment",
            "bus_message", "bus_delivery", "bus_processed"} <= tables


def test_every_table_belongs_to_a_module_by_its_prefix() -> None:
    load_models()
    # http: dashboard logins; sim: the sandbox provider and carrier, which stand for other
    # systems (ADR 0020)
    owners = {"bus", "http", "orders", "payment", "inventory", "shipping", "webhooks", "sim"}
    assert {name.split("_", 1)[0] for name in SQLModel.metadata.tables} <= owners
