"""A simulated carrier. An address containing ``UNDELIVERABLE`` is refused; everything else is
accepted. The same idempotency key always gets the same answer."""

from __future__ import annotations

import threading
import uuid
from dataclasses import asdict, dataclass
from typing import Protocol

from app.sandbox import Ledger


@dataclass(frozen=True)
class Consignment:
    accepted: bool
    tracking_id: str | None = None
    reason: str | None = None


class Carrier(Protocol):
    def ship(self, recipient: str, address: str, idempotency_key: str) -> Consignment: ...


class SimulatedCarrier:
    """Its memory of consignments by idempotency key is the sandbox ledger (it survives our
    restarts); ``parcels_sent`` counts the parcels this process's calls handed over."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._lock = threading.Lock()
        self.parcels_sent = 0

    def ship(self, recipient: str, address: str, idempotency_key: str) -> Consignment:
        consignment = _consign(address)
        kept, new = self.ledger.answer("carrier.ship", idempotency_key, asdict(consignment))
        if new and consignment.accepted:
            with self._lock:
                self.parcels_sent += 1
        return Consignment(**kept)


def _consign(address: str) -> Consignment:
    if "UNDELIVERABLE" in address.upper():
        return Consignment(False, reason="undeliverable")
    return Consignment(True, tracking_id=f"trk_{uuid.uuid4().hex[:16]}")
