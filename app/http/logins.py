"""Dashboard logins kept on the server: the session cookie names a login, and a login that was
ended (log out) or ran out is refused in every process, whoever holds a copy of the cookie."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, delete, select, update
from sqlmodel import Field, SQLModel

from app.db import Database


class LoginRecord(SQLModel, table=True):
    __tablename__ = "http_login"

    id: str = Field(primary_key=True, max_length=43)
    started_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)
    ended_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


def _now() -> datetime:
    return datetime.now(UTC)  # the cookie's own expiry is wall time, whatever the shop's clock


def start(db: Database, lasts: timedelta) -> str:
    """A new login; logins that ran out are cleared away on the way."""
    now, login_id = _now(), secrets.token_urlsafe(32)
    with db.session() as session:
        session.execute(delete(LoginRecord).where(LoginRecord.expires_at < now))
        session.add(LoginRecord(id=login_id, started_at=now, expires_at=now + lasts))
        session.commit()
    return login_id


def is_open(db: Database, login_id: str) -> bool:
    with db.reading() as session:
        row = session.execute(select(LoginRecord.expires_at, LoginRecord.ended_at)
                              .where(LoginRecord.id == login_id)).first()
    return row is not None and row.ended_at is None and _aware(row.expires_at) > _now()


def end(db: Database, login_id: str) -> None:
    with db.session() as session:
        session.execute(update(LoginRecord).where(LoginRecord.id == login_id,
                                                  LoginRecord.ended_at.is_(None))
                        .values(ended_at=_now()))
        session.commit()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite drops the zone
