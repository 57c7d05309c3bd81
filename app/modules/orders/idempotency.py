"""``Idempotency-Key`` on ``POST /api/orders`` (IETF httpapi draft "The Idempotency-Key HTTP
Header Field"): the key, the request's fingerprint and the first answer are stored in the same
transaction as the order, so the same request again is answered from the row, never by a second
order. See docs/adr/0014-idempotency-keys-in-the-order-transaction.md."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app.clock import as_utc
from app.db import Database
from app.modules.orders.models import IdempotencyKey

log = logging.getLogger("orderflow.orders")

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
PRUNE_BATCH = 100


class MalformedKey(ValueError):
    """The header's value cannot be a key; the message says why."""


class KeyReused(Exception):
    """The key was used before for a request with another body."""


@dataclass(frozen=True)
class Answer:
    """The first answer given for a key: what a replay sends again."""

    order_id: str
    status_code: int
    body: str  # JSON text


def parse_key(raw: str | None) -> str | None:
    """The key of an ``Idempotency-Key`` header value, or None when there is none. The draft
    sends it as a structured-field string (``"abc"``); a bare token (as Stripe takes it) is the
    same key. A key is 1 to 255 printable ASCII characters."""
    if raw is None:
        return None
    key = raw[1:-1].replace('\\"', '"').replace("\\\\", "\\") \
        if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    if not key.strip():
        raise MalformedKey("is empty")
    if len(key) > MAX_KEY_LENGTH:
        raise MalformedKey(f"is longer than {MAX_KEY_LENGTH} characters")
    if not all(" " <= char <= "~" for char in key):
        raise MalformedKey("may hold printable ASCII characters only")
    return key


def fingerprint(document: Any) -> str:
    """sha256 of the body's canonical JSON: spacing and key order do not make another request."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def lookup(session: Session, key: str, print_: str, now: datetime) -> Answer | None:
    """The first answer for this key, if it is still remembered. Raises KeyReused when the key
    came with another body. An expired row counts as absent and is removed here, so that the
    new request may take the key."""
    row = session.get(IdempotencyKey, key)
    if row is None:
        return None
    if as_utc(row.expires_at) <= now:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.key == key))  # type: ignore[arg-type]
        session.expunge(row)
        return None
    if row.fingerprint != print_:
        raise KeyReused(key)
    return Answer(row.order_id, row.status_code, row.response)


def remember(session: Session, key: str, print_: str, answer: Answer, now: datetime,
             ttl: timedelta) -> None:
    """Store the answer with the order, in the caller's transaction; flushed at once, so that a
    racing request with the same key fails here (PostgreSQL) rather than at commit."""
    session.add(IdempotencyKey(key=key, fingerprint=print_, order_id=answer.order_id,
                               status_code=answer.status_code, response=answer.body,
                               created_at=now, expires_at=now + ttl))
    session.flush()


def winner(session: Session, key: str, print_: str) -> Answer | None:
    """After losing a race for the key: the answer the winner stored (KeyReused if its body
    differed), or None when there is no such row (the failure was about something else)."""
    row = session.get(IdempotencyKey, key)
    if row is None:
        return None
    if row.fingerprint != print_:
        raise KeyReused(key)
    return Answer(row.order_id, row.status_code, row.response)


def prune(session: Session, now: datetime, batch: int = PRUNE_BATCH) -> int:
    """Delete up to ``batch`` expired keys; rows another transaction holds are skipped
    (PostgreSQL), so pruning never waits. Returns how many went."""
    expired = (_expired(now).order_by(IdempotencyKey.expires_at)  # type: ignore[arg-type]
               .limit(batch).with_for_update(skip_locked=True))
    keys = list(session.scalars(expired))
    if keys:
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.key.in_(keys)))  # type: ignore[attr-defined]
    return len(keys)


def prune_now(db: Database, now: datetime) -> int:
    """After a keyed order: remove a batch of expired keys in a transaction of its own (looked
    for with a read first, so that the common case takes no write lock). Pruning is
    housekeeping: a failure is logged, never the client's problem."""
    try:
        with db.reading() as session:
            if session.scalars(_expired(now).limit(1)).first() is None:
                return 0
        with db.session() as session:
            pruned = prune(session, now)
            session.commit()
        return pruned
    except SQLAlchemyError:
        log.exception("could not prune expired idempotency keys; the next order tries again")
        return 0


def _expired(now: datetime) -> Select[tuple[str]]:
    return select(IdempotencyKey.key).where(IdempotencyKey.expires_at <= now)  # type: ignore[arg-type]
