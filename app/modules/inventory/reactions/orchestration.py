"""Orchestration: inventory handles its own commands and knows nobody else's messages."""

from app.bus import UnitOfWork
from app.modules.inventory import service
from app.modules.inventory.contracts import FetchGoods, ReleaseGoods


def when_asked_to_fetch_goods_take_them_off_the_shelf(msg: FetchGoods, uow: UnitOfWork) -> None:
    with uow:
        service.fetch(uow, order_id=msg.order_id, lines=msg.items)
        uow.commit()


def when_asked_to_release_goods_put_them_back(msg: ReleaseGoods, uow: UnitOfWork) -> None:
    with uow:
        service.release(uow, order_id=msg.order_id)
        uow.commit()


SUBSCRIPTIONS = [
    (FetchGoods, when_asked_to_fetch_goods_take_them_off_the_shelf),
    (ReleaseGoods, when_asked_to_release_goods_put_them_back),
]
