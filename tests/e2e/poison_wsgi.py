"""The shop with one more receiver, for tests/e2e/test_poison.py only (gunicorn is given
``tests.e2e.poison_wsgi:app`` instead of ``wsgi:app``; nothing in app/ can reach it): on
OrderPlaced for a customer named ``Poison`` it ends its process at once, as a segfault or the
out-of-memory killer would, before anything about the attempt can be written down."""

import os

from app.bus import UnitOfWork
from app.modules.orders.contracts import OrderPlaced
from wsgi import app

POISON = "Poison"
CRASHED = 70  # not gunicorn's boot-error codes (3, 4): the master starts another worker


def when_order_placed_for_poison_end_the_process(msg: OrderPlaced, uow: UnitOfWork) -> None:
    if msg.customer_name == POISON:
        os._exit(CRASHED)


_wiring = app.extensions["orderflow"].bus.wiring
for _style in _wiring.styles:
    _wiring.connect(_style, OrderPlaced, when_order_placed_for_poison_end_the_process, "poison")
