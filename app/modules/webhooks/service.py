"""Webhooks' use cases: subscriptions (a session from the API) and deliveries (an open unit of
work from a reaction; the caller commits)."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from app.bus import UnitOfWork
from app.bus.messages import SPEC_VERSION, source_uri
from app.modules.orders.contracts import OrderStatusChanged
from app.modules.webhooks import signing
from app.modules.webhooks.contracts import DeliverWebhook
from app.modules.webhooks.models import Subscription

SEPARATOR = ","


class WebhookRefused(RuntimeError):
    """The receiver did not answer 2xx: the delivery fails and the outbox retries it."""


def register(session: Session, *, url: str, statuses: Sequence[str] | None,
             styles: Sequence[str] | None, now: datetime) -> Subscription:
    """A new subscription with a fresh secret; the caller commits."""
    subscription = Subscription(id=f"wh_{secrets.token_urlsafe(15)}", url=url,
                                secret=signing.new_secret(), statuses=_joined(statuses),
                                styles=_joined(styles), created_at=now)
    session.add(subscription)
    return subscription


def listed(session: Session) -> list[Subscription]:
    """Oldest first."""
    return list(session.exec(select(Subscription).order_by(col(Subscription.seq))))


def find(session: Session, subscription_id: str) -> Subscription | None:
    return session.exec(select(Subscription).where(Subscription.id == subscription_id)).first()


def remove(session: Session, subscription_id: str) -> bool:
    """Whether there was such a subscription. Its deliveries not yet made will not be made."""
    subscription = find(session, subscription_id)
    if subscription is not None:
        session.delete(subscription)
    return subscription is not None


def split(stored: str | None) -> list[str] | None:
    return stored.split(SEPARATOR) if stored else None


def _joined(values: Sequence[str] | None) -> str | None:
    return SEPARATOR.join(values) if values else None


def queue_deliveries(uow: UnitOfWork, change: OrderStatusChanged) -> int:
    """One DeliverWebhook per subscription that wants this change, so that each has its own
    delivery, retries and dead letter. The event is the message the unit of work consumes."""
    event_id = uow.caused_by
    if event_id is None:
        raise RuntimeError("queue_deliveries handles a delivered OrderStatusChanged")
    wanted = [s for s in listed(uow.session) if wants(s, change.status, change.style)]
    for subscription in wanted:
        uow.publish(DeliverWebhook(order_id=change.order_id, subscription_id=subscription.id,
                                   event_id=event_id, status=change.status,
                                   reason=change.reason, style=change.style, at=change.at))
    return len(wanted)


def wants(subscription: Subscription, status: str, style: str) -> bool:
    statuses, styles = split(subscription.statuses), split(subscription.styles)
    return (statuses is None or status in statuses) and (styles is None or style in styles)


def deliver(uow: UnitOfWork, command: DeliverWebhook) -> None:
    """POST the change to the subscription's URL (outside the transaction: the receiver runs
    under ``calls_outside``); anything but a 2xx raises, and the outbox retries."""
    subscription = find(uow.session, command.subscription_id)
    if subscription is None:  # removed since: its URL is no longer one the admin registered
        return
    answer = uow.adapters.webhook_sender.post(subscription.url, body(command),
                                              secret=subscription.secret,
                                              idempotency_key=command.event_id)
    if not answer.accepted:
        raise WebhookRefused(f"the receiver of webhook {subscription.id} answered "
                             f"{answer.status}; only a 2xx counts as delivered")


def cloudevent(command: DeliverWebhook) -> dict[str, Any]:
    """The status change as a CloudEvents 1.0 event; ``id`` is the OrderStatusChanged's id
    in the message log, the same on every attempt and for every subscription."""
    return {"specversion": SPEC_VERSION, "id": command.event_id,
            "type": OrderStatusChanged.type_name(),
            "source": source_uri(OrderStatusChanged.owner), "subject": command.order_id,
            "time": command.at, "datacontenttype": "application/json",
            "data": {"order_id": command.order_id, "status": command.status,
                     "reason": command.reason, "style": command.style, "at": command.at}}


def body(command: DeliverWebhook) -> bytes:
    return json.dumps(cloudevent(command), separators=(",", ":")).encode()
