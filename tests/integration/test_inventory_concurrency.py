"""Two orders racing for the last unit: exactly one gets it, and stock never goes negative."""

from __future__ import annotations

import threading

from flask import Flask

from app.modules.inventory import service
from app.modules.inventory.contracts import GoodsLine
from app.modules.inventory.models import Item
from tests.conftest import on_every_database

pytestmark = on_every_database
RACERS = 8


def test_concurrent_picks_for_the_last_unit_never_both_succeed(app: Flask) -> None:
    bus = app.extensions["orderflow"].bus
    start = threading.Barrier(RACERS)
    picks: list[object] = []

    def race(number: int) -> None:
        start.wait()
        with bus.unit_of_work(style="orchestration", module="inventory") as uow:
            pick = service.fetch(uow, order_id=f"ord_race_{number}",
                                 lines=[GoodsLine(sku="sku-last", quantity=1)])
            uow.session.commit()  # no dispatch: only the race matters here
        picks.append(pick)

    racers = [threading.Thread(target=race, args=(n,)) for n in range(RACERS)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=30)

    assert sum(pick is not None for pick in picks) == 1
    assert len(picks) == RACERS
    with bus.db.reading() as session:
        assert session.get(Item, "sku-last").stock == 0


def test_a_pick_is_all_or_nothing(app: Flask) -> None:
    bus = app.extensions["orderflow"].bus
    with bus.unit_of_work(style="orchestration", module="inventory") as uow:
        pick = service.fetch(uow, order_id="ord_partial",
                             lines=[GoodsLine(sku="sku-1", quantity=2),
                                    GoodsLine(sku="sku-none", quantity=1)])
        uow.session.commit()
    assert pick is None
    with bus.db.reading() as session:
        assert session.get(Item, "sku-1").stock == 100
