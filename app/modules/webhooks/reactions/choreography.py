"""Choreography: webhooks must know one message of the orders module, OrderStatusChanged. It
follows orders from outside the flow and changes nothing in it, so it listens the same way in
every style. Each subscription's POST is a command of its own: its own delivery and retries."""

from app.bus import UnitOfWork, calls_outside
from app.modules.orders.contracts import OrderStatusChanged
from app.modules.webhooks import service
from app.modules.webhooks.contracts import DeliverWebhook


def when_order_status_changed_queue_its_webhooks(msg: OrderStatusChanged,
                                                 uow: UnitOfWork) -> None:
    with uow:
        service.queue_deliveries(uow, msg)
        uow.commit()


@calls_outside
def when_asked_to_deliver_a_webhook_post_it(msg: DeliverWebhook, uow: UnitOfWork) -> None:
    with uow:
        service.deliver(uow, msg)
        uow.commit()


SUBSCRIPTIONS = [
    (OrderStatusChanged, when_order_status_changed_queue_its_webhooks),
    (DeliverWebhook, when_asked_to_deliver_a_webhook_post_it),
]
SENDS = [DeliverWebhook]
