"""Hybrid: as in every style, webhooks hears orders' status changes and posts them."""

from app.modules.orders.contracts import OrderStatusChanged
from app.modules.webhooks.contracts import DeliverWebhook
from app.modules.webhooks.reactions.choreography import (
    when_asked_to_deliver_a_webhook_post_it,
    when_order_status_changed_queue_its_webhooks,
)

SUBSCRIPTIONS = [
    (OrderStatusChanged, when_order_status_changed_queue_its_webhooks),
    (DeliverWebhook, when_asked_to_deliver_a_webhook_post_it),
]
SENDS = [DeliverWebhook]
