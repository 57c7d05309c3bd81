"""The demo catalogue that ``make run`` loads into an empty database."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import select

from app.db import Database
from app.modules.inventory.models import Item

DEMO_CATALOGUE = [
    ("sku-1", "Espresso beans, 1 kg", 2490, 100),
    ("sku-2", "Hand grinder", 5900, 25),
    ("sku-3", "Milk jug, 350 ml", 1450, 40),
    ("sku-4", "Tamper, 58 mm", 2900, 15),
    ("sku-last", "Limited-edition cup (one left)", 3900, 1),
    ("sku-none", "Sold-out scale", 7900, 0),
]


def load_demo_catalogue(session: Session, now: datetime) -> int:
    """Add the demo items when the catalogue is empty; returns how many were added."""
    if session.exec(select(Item).limit(1)).first() is not None:
        return 0
    session.add_all(Item(sku=sku, name=name, price_cents=price, stock=stock, updated_at=now)
                    for sku, name, price, stock in DEMO_CATALOGUE)
    return len(DEMO_CATALOGUE)


def ensure_demo_catalogue(db: Database, now: datetime) -> int:
    """``orderflow init``'s load, safe when two inits run at once (two containers starting on
    one PostgreSQL database): the one that commits second finds the skus taken, and the
    catalogue the other loaded is the same one."""
    with db.session() as session:
        added = load_demo_catalogue(session, now)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            if session.exec(select(Item).limit(1)).first() is None:
                raise  # not another init's catalogue: something else is wrong
            return 0
    return added
