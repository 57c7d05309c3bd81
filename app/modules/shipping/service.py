"""Shipping's use cases. Each takes an open unit of work; the caller commits."""

from __future__ import annotations

import uuid

from sqlmodel import select

from app.bus import UnitOfWork
from app.modules.shipping.contracts import GoodsShipped, ShipmentFailed
from app.modules.shipping.models import (
    CANCELLED,
    DONE,
    FAILED,
    SHIPPED,
    WAITING,
    Destination,
    Shipment,
)


def ship(uow: UnitOfWork, *, order_id: str, pick_id: str, recipient: str, address: str
         ) -> Shipment:
    existing = uow.session.exec(select(Shipment).where(Shipment.order_id == order_id)).first()
    if existing is not None:
        return existing
    consignment = uow.adapters.carrier.ship(recipient, address,
                                            idempotency_key=f"ship:{order_id}")
    shipment = Shipment(id=f"shp_{uuid.uuid4().hex[:20]}", order_id=order_id, pick_id=pick_id,
                        recipient=recipient, address=address,
                        status=SHIPPED if consignment.accepted else FAILED,
                        tracking_id=consignment.tracking_id, reason=consignment.reason,
                        created_at=uow.bus.clock.now())
    uow.session.add(shipment)
    if consignment.accepted:
        uow.publish(GoodsShipped(order_id=order_id, shipment_id=shipment.id))
    else:
        uow.publish(ShipmentFailed(order_id=order_id, reason=consignment.reason or "refused"))
    return shipment


def note_destination(uow: UnitOfWork, *, order_id: str, recipient: str, address: str,
                     needs_payment: bool) -> None:
    uow.session.add(Destination(order_id=order_id, recipient=recipient, address=address,
                                needs_payment=needs_payment))


def note_paid(uow: UnitOfWork, *, order_id: str) -> Shipment | None:
    destination = _destination(uow, order_id)
    destination.paid = True
    return _ship_when_ready(uow, destination)


def note_goods(uow: UnitOfWork, *, order_id: str, pick_id: str) -> Shipment | None:
    destination = _destination(uow, order_id)
    destination.pick_id = pick_id
    return _ship_when_ready(uow, destination)


def _ship_when_ready(uow: UnitOfWork, destination: Destination) -> Shipment | None:
    """The join: ship once the goods are here and the payment is in (or not needed)."""
    uow.session.add(destination)
    ready = destination.pick_id and (destination.paid or not destination.needs_payment)
    if destination.status != WAITING or not ready:
        return None
    destination.status = DONE
    return ship(uow, order_id=destination.order_id, pick_id=destination.pick_id,
                recipient=destination.recipient, address=destination.address)


def cancel(uow: UnitOfWork, *, order_id: str) -> None:
    """The order was cancelled: a parcel not yet handed over never will be."""
    destination = uow.session.get(Destination, order_id)
    if destination is not None and destination.status == WAITING:
        destination.status = CANCELLED
        uow.session.add(destination)


def _destination(uow: UnitOfWork, order_id: str) -> Destination:
    destination = uow.session.get(Destination, order_id)
    if destination is None:
        raise LookupError(f"shipping was never told where order {order_id} goes")
    return destination
