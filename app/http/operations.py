"""The operator's levers that belong to the kernel: dead letters (parked deliveries) and the
manual clock. Everything but reading the clock needs the admin token."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, field_validator

from app.bus import deadlines, outbox
from app.clock import LONGEST_STEP, parse_duration
from app.http.auth import require_admin, writes_need_an_admin
from app.http.errors import ApiError, Problem
from app.http.formats import Strict, Timestamp, runtime, timestamp
from app.http.openapi import ADMIN

LARGEST_ID = 2**31 - 1  # bus_delivery.id is an INTEGER (32 bits on PostgreSQL): nothing above
blueprint = APIBlueprint("operations", __name__, abp_tags=[Tag(name="operations")])
blueprint.before_request(writes_need_an_admin)


class DeadLetterQuery(Strict):
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    after: Annotated[int, Field(ge=0, le=LARGEST_ID)] | None = None  # the previous page's last
    order_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None


class DeadLetterPath(Strict):
    delivery_id: int


class DeadlinePath(Strict):
    order_id: Annotated[str, Field(min_length=1, max_length=40)]
    name: Annotated[str, Field(min_length=1, max_length=60)]


# what parse_duration reads; how long a step may be is checked after (a pattern cannot say)
DURATION_PATTERN = (r"^\s*[Pp]([0-9]+[Ww]|([0-9]+[Dd])?([Tt]([0-9]+[Hh])?([0-9]+[Mm])?"
                    r"([0-9]+([.][0-9]+)?[Ss])?)?)\s*$")


class AdvanceIn(Strict):
    by: str = Field(max_length=40, pattern=DURATION_PATTERN, examples=["P7D", "PT30M"],
                    description="an ISO-8601 duration, more than nothing and at most P3660D")

    @field_validator("by")
    @classmethod
    def _a_forward_duration(cls, by: str) -> str:
        step = parse_duration(by)  # its ValueError becomes a 422 naming body.by
        if step <= timedelta(0) or step > LONGEST_STEP:
            raise ValueError("move the clock forward by more than nothing and at most P3660D")
        return by


class DeadLetterOut(BaseModel):
    id: int
    order_id: str
    message_id: str
    message: str = Field(description="the message type")
    style: str
    receiver: str
    module: str
    attempts: int
    last_error: str | None
    parked_at: Timestamp


class DeadLetterPage(BaseModel):
    items: list[DeadLetterOut]
    next_after: int | None = Field(description="pass it back as ?after= for the next page")


class RetryAnswer(BaseModel):
    id: int
    status: str = Field(description="the delivery's status after the retry: done, pending, "
                                    "failed or parked")


class FireAnswer(BaseModel):
    order_id: str
    name: str
    status: str


class ClockBody(BaseModel):
    now: Timestamp
    manual: bool


class AdvanceAnswer(BaseModel):
    now: Timestamp
    deadlines_fired: int


@blueprint.get("/api/deadletters", operation_id="listDeadLetters", security=ADMIN,
               responses={200: DeadLetterPage, 401: Problem, 403: Problem})
def list_dead_letters(query: DeadLetterQuery) -> Any:
    """Parked deliveries (retries exhausted), oldest first: the message, its receiver, how
    many attempts it made and the last error; one order's with ``order_id=``. Page with
    ``after=<next_after>``."""
    require_admin()
    return dead_letters_page(query)


def dead_letters_page(query: DeadLetterQuery) -> dict[str, Any]:
    with runtime().bus.db.reading() as session:
        rows = outbox.parked(session, limit=query.limit + 1, after_id=query.after,
                             flowid=query.order_id)
    page, more = rows[: query.limit], len(rows) > query.limit
    return {"items": [dead_letter_view(row) for row in page],
            "next_after": page[-1]["id"] if more else None}


def dead_letter_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "order_id": row["flowid"], "message_id": row["message_id"],
            "message": row["type"], "style": row["style"], "receiver": row["receiver"],
            "module": row["module"], "attempts": row["attempts"],
            "last_error": row["last_error"], "parked_at": timestamp(row["updated_at"])}


@blueprint.post("/api/deadletters/<int:delivery_id>/retry", operation_id="retryDeadLetter",
                security=ADMIN, responses={202: RetryAnswer, 401: Problem, 403: Problem,
                                           404: Problem, 409: Problem})
def retry_dead_letter(path: DeadLetterPath) -> Any:
    """Deliver a parked message again, now; the flow continues from there. With inline
    dispatch the answer comes after the retry ran: ``status`` says how it went."""
    require_admin()
    return retry(path.delivery_id), 202


def retry(delivery_id: int) -> dict[str, Any]:
    if not 0 < delivery_id <= LARGEST_ID:
        raise ApiError(404, "deadletter_not_found", f"there is no delivery {delivery_id}")
    bus = runtime().bus
    with bus.db.session() as session:
        if not outbox.replay(session, delivery_id, bus.clock.now()):
            _not_parked(session, delivery_id)
        session.commit()
    bus.tick()
    with bus.db.reading() as session:
        status = outbox.delivery_status(session, delivery_id)
    return {"id": delivery_id, "status": status}


@blueprint.post("/api/orders/<order_id>/deadlines/<name>/fire", operation_id="fireDeadline",
                security=ADMIN, responses={202: FireAnswer, 401: Problem, 403: Problem,
                                           409: Problem})
def fire_failed_deadline(path: DeadlinePath) -> Any:
    """Fire again, now, a deadline set aside as failed after its last attempt; one more
    failure sets it aside again. ``status`` says how it went (with inline dispatch)."""
    require_admin()
    return refire(path.order_id, path.name), 202


def refire(order_id: str, name: str) -> dict[str, Any]:
    bus = runtime().bus
    with bus.db.session() as session:
        if not deadlines.refire(session, order_id, name, bus.clock.now()):
            raise ApiError(409, "deadline_not_failed", f"order {order_id} has no {name} "
                           "deadline set aside as failed; only those can be fired again")
        session.commit()
    bus.tick()
    with bus.db.reading() as session:
        status = [d["status"] for d in deadlines.of_flow(session, order_id) if d["name"] == name]
    return {"order_id": order_id, "name": name, "status": status[-1]}


def _not_parked(session: Any, delivery_id: int) -> None:
    status = outbox.delivery_status(session, delivery_id)
    if status is None:
        raise ApiError(404, "deadletter_not_found", f"there is no delivery {delivery_id}")
    raise ApiError(409, "not_parked", f"delivery {delivery_id} is {status}, not parked; "
                   "only parked deliveries can be retried")


@blueprint.get("/api/clock", operation_id="getClock", responses={200: ClockBody})
def read_clock() -> Any:
    """What time the app thinks it is, and whether an operator can move it."""
    clock = runtime().bus.clock
    return {"now": timestamp(clock.now()), "manual": hasattr(clock, "advance")}


@blueprint.post("/api/clock/advance", operation_id="advanceClock", security=ADMIN,
                responses={200: AdvanceAnswer, 401: Problem, 403: Problem, 409: Problem})
def advance_clock(body: AdvanceIn) -> Any:
    """Manual clock only (``ORDERFLOW_CLOCK=manual``): move time forward, then fire the
    deadlines that fell due and deliver what they cause."""
    require_admin()
    return advance(body.by)


def advance(by: str) -> dict[str, Any]:
    bus = runtime().bus
    if not hasattr(bus.clock, "advance"):
        raise ApiError(409, "clock_not_manual",
                       "the clock follows the system time; start the app with "
                       "ORDERFLOW_CLOCK=manual to move it")
    try:
        now = bus.clock.advance(by)
    except ValueError as error:  # the step fits, but not on top of the moves made before
        raise ApiError(422, "invalid_request", f"body.by: {error}",
                       [{"where": "body.by", "problem": str(error)}]) from None
    fired = bus.fire_due_deadlines()
    bus.dispatcher.tick()
    return {"now": timestamp(now), "deadlines_fired": fired}
