"""Shipping's use cases. Each takes an open unit of work; the caller commits."""

from __future__ import annotations

import uuid

from sqlmodel import select

from app.bus import UnitOfWork
from app.modules.shipping.contracts import GoodsShipped, ShipmentFailed
from app.modules.shipping.models import FAILED, SHIPPED, Destination, Shipment


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


def note_destination(uow: UnitOfWork, *, order_id: str, recipient: str, address: str) -> None:
    uow.session.add(Destination(order_id=order_id, recipient=recipient, address=address))


def ship_to_noted_destination(uow: UnitOfWork, *, order_id: str, pick_id: str) -> Shipment:
    destination = uow.session.get(Destination, order_id)
    if destination is None:
        raise LookupError(f"shipping was never told where order {order_id} goes")
    return ship(uow, order_id=order_id, pick_id=pick_id, recipient=destination.recipient,
                address=destination.address)
