"""A simulated carrier. An address containing ``UNDELIVERABLE`` is refused; everything else is
accepted. The same idempotency key always gets the same answer."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Consignment:
    accepted: bool
    tracking_id: str | None = None
    reason: str | None = None


class Carrier(Protocol):
    def ship(self, recipient: str, address: str, idempotency_key: str) -> Consignment: ...


class SimulatedCarrier:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._consignments: dict[str, Consignment] = {}

    def ship(self, recipient: str, address: str, idempotency_key: str) -> Consignment:
        with self._lock:
            if idempotency_key not in self._consignments:
                self._consignments[idempotency_key] = _consign(address)
            return self._consignments[idempotency_key]

    @property
    def parcels_sent(self) -> int:
        return sum(1 for c in self._consignments.values() if c.accepted)


def _consign(address: str) -> Consignment:
    if "UNDELIVERABLE" in address.upper():
        return Consignment(False, reason="undeliverable")
    return Consignment(True, tracking_id=f"trk_{uuid.uuid4().hex[:16]}")
