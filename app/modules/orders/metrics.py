"""What the orders module shows Prometheus: how many orders are in each status, per style.
The composition root hands this to the kernel's metrics collector (which caches it for a few
seconds: it counts the whole orders table)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.modules.orders.models import Order

_orders = Order.__table__
_BY_STATUS_AND_STYLE = (select(_orders.c.status, _orders.c.style, func.count())
                        .group_by(_orders.c.status, _orders.c.style))


def orders_gauge(session: Session) -> Iterator[Metric]:
    family = GaugeMetricFamily("orderflow_orders", "Orders by status and collaboration style",
                               labels=["status", "style"])
    for status, style, count in session.connection().execute(_BY_STATUS_AND_STYLE):
        family.add_metric([status, style], count)
    yield family
