"""Orders' HTTP API: place an order, read it, list orders, read its timeline and its events."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Annotated, Any, Literal

from flask import Response, current_app, request, url_for
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.bus import ArchivedHistory, UnitOfWork, archived_history, deadlines, flows, outbox
from app.bus.messages import Envelope
from app.bus.outbox import flow_message, flow_messages, load_flow
from app.config import STYLES
from app.http import cloudevents
from app.http.auth import require_admin
from app.http.errors import ApiError, Problem
from app.http.formats import Money, Strict, Timestamp, money, runtime, span, timestamp
from app.http.openapi import ADMIN
from app.modules.orders import idempotency, service
from app.modules.orders.models import STATUSES, TERMINAL, Order, OrderLineRecord

blueprint = APIBlueprint("orders", __name__, url_prefix="/api/orders",
                         abp_tags=[Tag(name="orders")])

MAX_QUANTITY = 100
MAX_LINES = 50
MAX_CURSOR = 40
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class CustomerIn(Strict):
    id: Annotated[Text, StringConstraints(max_length=64)]
    name: Annotated[Text, StringConstraints(max_length=200)]
    address: Annotated[Text, StringConstraints(max_length=500)]
    vip: Annotated[bool, Field(strict=True)] = False


class ItemIn(Strict):
    sku: Annotated[Text, StringConstraints(max_length=40)]
    quantity: Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY)]


class PaymentIn(Strict):
    token: Annotated[Text, StringConstraints(max_length=64)]
    method: Literal["card"] = "card"


class PlaceOrderIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "customer": {"id": "c-42", "name": "Ada Lovelace", "address": "1 Main Street, Springfield"},
        "items": [{"sku": "sku-1", "quantity": 2}], "payment": {"token": "tok_ok"},
        "style": "hybrid", "flow": "sequential"}]})

    customer: CustomerIn
    items: Annotated[list[ItemIn], Field(min_length=1, max_length=MAX_LINES)]
    payment: PaymentIn
    style: Literal["choreography", "orchestration", "hybrid"] | None = None
    flow: Literal["sequential", "parallel"] | None = None

    @field_validator("items")
    @classmethod
    def _one_line_per_sku(cls, items: list[ItemIn]) -> list[ItemIn]:
        skus = [item.sku for item in items]
        duplicates = sorted({sku for sku in skus if skus.count(sku) > 1})
        if duplicates:
            raise ValueError(f"each sku may appear once; repeated: {', '.join(duplicates)}")
        return items


class OrderPath(Strict):
    order_id: str  # any id that names no order is a 404, however it looks


class EventPath(Strict):
    order_id: str
    event_id: str


class EventQuery(Strict):
    mode: Literal[cloudevents.MODES] = Field(  # type: ignore[valid-type]
        "structured", description="structured (default): the whole event as the body, "
        "application/cloudevents+json; binary: the attributes as ce- headers and the data "
        "as the body, with its datacontenttype as Content-Type")


class OrderListQuery(Strict):
    status: Literal[STATUSES] | None = None  # type: ignore[valid-type]
    style: Literal[STYLES] | None = None  # type: ignore[valid-type]
    stuck: bool = False  # only orders that stopped moving (see ORDERFLOW_STUCK_AFTER)
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: str | None = None  # checked by _decode_cursor, so that any bogus one is a 400


class IdempotencyHeader(BaseModel):
    idempotency_key: str | None = Field(
        None, alias=idempotency.HEADER,
        description="Optional. The same key with the same body returns the first answer (same "
                    "status, body and Location) and never makes a second order; with another "
                    "body it is refused (422). 1 to 255 printable ASCII characters, remembered "
                    "for ORDERFLOW_IDEMPOTENCY_TTL (default P1D).")



# --- what the answers look like (the OpenAPI document's response schemas) ------------------------
class CustomerOut(BaseModel):
    id: str
    name: str
    address: str
    vip: bool


class LineOut(BaseModel):
    sku: str
    name: str
    quantity: int
    unit_price: Money


class DeadlineOut(BaseModel):
    """A timer of the order's flow: the price hold, an invoice's due date, ..."""

    name: str
    owner: str
    message: str
    due_at: Timestamp
    status: str
    closed_at: Timestamp | None
    last_error: str | None
    attempts: int


class StuckLetterOut(BaseModel):
    id: int
    receiver: str
    message: str
    attempts: int
    last_error: str | None


class StuckOut(BaseModel):
    """Why the order does not move, and what an operator can do about it."""

    why: str
    deadletters: list[StuckLetterOut]
    failed_deadlines: list[str]


class HistoryOut(BaseModel):
    """Whether the order's messages are still there or were archived (ADR 0016)."""

    archived: bool
    archived_at: Timestamp | None = None
    messages: int | None = None
    first_message_at: Timestamp | None = None
    last_message_at: Timestamp | None = None
    note: str | None = None


class OrderSummaryOut(BaseModel):
    id: str
    status: Literal[STATUSES]  # type: ignore[valid-type]
    reason: str | None
    style: Literal[STYLES]  # type: ignore[valid-type]
    flow: Literal["sequential", "parallel"]
    customer: CustomerOut
    total: Money
    created_at: Timestamp
    updated_at: Timestamp


class OrderOut(OrderSummaryOut):
    items: list[LineOut]
    deadlines: list[DeadlineOut]
    stuck: StuckOut | None
    history: HistoryOut


class OrderListItemOut(OrderSummaryOut):
    stuck: bool


class OrderPageOut(BaseModel):
    items: list[OrderListItemOut]
    next_cursor: str | None = Field(description="pass it back as ?cursor= for the next page")


class DeliveryOut(BaseModel):
    """One receiver's state of one message."""

    receiver: str
    module: str
    status: Literal["pending", "done", "failed", "parked"]
    attempts: int
    last_error: str | None
    next_attempt_at: Timestamp | None


class TimelineEntryOut(BaseModel):
    seq: int = Field(description="the message's place in the whole log")
    event: dict[str, Any] = Field(description="the message as a CloudEvent (structured mode, "
                                              "as /events serves it)")
    deliveries: list[DeliveryOut]


class TimelineOut(BaseModel):
    order_id: str
    messages: list[TimelineEntryOut]
    history: HistoryOut


@blueprint.post("", operation_id="placeOrder",
                responses={202: OrderOut, 400: Problem, 413: Problem, 415: Problem, 422: Problem})
def place_order(body: PlaceOrderIn, header: IdempotencyHeader) -> Any:
    """Place an order. It is accepted at once (202) and fulfilled by the modules' messages.
    With an ``Idempotency-Key`` header a retry gets the first answer instead of a new order."""
    key = _idempotency_key(request.headers.get(idempotency.HEADER))
    if key is None:
        order_id = place(body)
        return read(order_id), 202, {"Location": _location(order_id)}
    answer, replayed = place_once(body, key, idempotency.fingerprint(request.get_json()))
    response = current_app.response_class(answer.body, status=answer.status_code,
                                          mimetype="application/json")
    response.headers["Location"] = _location(answer.order_id)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _location(order_id: str) -> str:
    return url_for("orders.get_order", order_id=order_id)


def _idempotency_key(raw: str | None) -> str | None:
    try:
        return idempotency.parse_key(raw)
    except idempotency.MalformedKey as malformed:
        where = f"header.{idempotency.HEADER}"
        raise ApiError(400, "invalid_idempotency_key",
                       f"the {idempotency.HEADER} header {malformed}",
                       [{"where": where, "problem": str(malformed)}]) from None


def place(body: PlaceOrderIn) -> str:
    """Place an order and return its id (the API and the dashboard both come here)."""
    with runtime().bus.unit_of_work(style=body.style, module="orders") as uow:
        order = _place_in(uow, body)
        uow.commit()
    return order.id


def place_once(body: PlaceOrderIn, key: str, print_: str) -> tuple[idempotency.Answer, bool]:
    """Place the order unless this key already made one; returns the answer and whether it
    is a replay. The key's row is written in the order's transaction: on SQLite that
    transaction holds the write lock from its first read, so a racing request waits and then
    finds the row; on PostgreSQL both may miss it, and the loser's insert of the key fails:
    its order rolls back and it answers from the winner's row."""
    bus = runtime().bus
    now = bus.clock.now()
    try:
        with bus.unit_of_work(style=body.style, module="orders") as uow:
            earlier = idempotency.lookup(uow.session, key, print_, now)
            if earlier is not None:
                return earlier, True
            answer = _place_and_remember(uow, body, key, print_, now)
            uow.commit()
    except IntegrityError as lost:
        return _answer_of_winner(key, print_, lost), True
    except idempotency.KeyReused:
        raise _key_reused(key) from None
    idempotency.prune_now(bus.db, now)
    return answer, False


def _place_and_remember(uow: UnitOfWork, body: PlaceOrderIn, key: str, print_: str,
                        now: datetime) -> idempotency.Answer:
    order = _place_in(uow, body)
    answer = idempotency.Answer(order.id, 202, json.dumps(read_in(uow.session, order.id)))
    idempotency.remember(uow.session, key, print_, answer, now, uow.bus.settings.idempotency_ttl)
    return answer


def _answer_of_winner(key: str, print_: str, lost: IntegrityError) -> idempotency.Answer:
    with runtime().bus.db.reading() as session:
        try:
            answer = idempotency.winner(session, key, print_)
        except idempotency.KeyReused:
            raise _key_reused(key) from None
    if answer is None:
        raise lost  # the insert failed for another reason than the key: a 500, as before
    return answer


def _key_reused(key: str) -> ApiError:
    where = f"header.{idempotency.HEADER}"
    return ApiError(422, "idempotency_key_reused",
                    f"the {idempotency.HEADER} {key!r} was already used for a different request; "
                    "send a new key for a new order",
                    [{"where": where, "problem": "used before with another body"}])


def _place_in(uow: UnitOfWork, body: PlaceOrderIn) -> Order:
    request_ = service.PlaceOrder(
        customer=service.Customer(**body.customer.model_dump()),
        items=tuple((item.sku, item.quantity) for item in body.items),
        payment_token=body.payment.token, payment_method=body.payment.method, flow=body.flow)
    try:
        return service.place(uow, request_)
    except service.UnknownSkus as unknown:
        raise ApiError(422, "unknown_sku", f"not in the catalogue: {unknown}",
                       [{"where": f"body.items.{i}.sku", "problem": "unknown sku"}
                        for i, item in enumerate(body.items) if item.sku in unknown.skus]
                       ) from None


@blueprint.get("/<order_id>", operation_id="getOrder", responses={200: OrderOut, 404: Problem})
def get_order(path: OrderPath) -> Any:
    """An order: status, reason when cancelled, style, customer, items, total, times."""
    return read(path.order_id)


@blueprint.get("", operation_id="listOrders", security=ADMIN,
               responses={200: OrderPageOut, 400: Problem, 401: Problem, 403: Problem})
def list_orders(query: OrderListQuery) -> Any:
    """Orders, newest first, a keyset page at a time: pass ``next_cursor`` back as ``cursor``.
    ``stuck=true``: only unfinished orders with no message for ``ORDERFLOW_STUCK_AFTER``, and
    any order an operator must unblock (a parked delivery, a deadline that could not fire).
    For operators (admin token): the list shows customers' names and addresses."""
    require_admin()
    return orders_page(query)


def orders_page(query: OrderListQuery) -> dict[str, Any]:
    statement = select(Order).order_by(col(Order.seq).desc()).limit(query.limit + 1)
    if query.status:
        statement = statement.where(Order.status == query.status)
    if query.style:
        statement = statement.where(Order.style == query.style)
    if query.stuck:
        statement = statement.where(stuck_condition(stuck_cutoff()))
    if query.cursor:
        statement = statement.where(col(Order.seq) < _decode_cursor(query.cursor))
    with runtime().bus.db.reading() as session:
        orders = list(session.exec(statement))
        page, more = orders[: query.limit], len(orders) > query.limit
        stuck = stuck_among(session, page)
        items = [{**order_view(order, None), "stuck": order.id in stuck} for order in page]
    return {"items": items, "next_cursor": _encode_cursor(page[-1].seq) if more else None}


def stuck_cutoff() -> datetime:
    bus = runtime().bus
    return bus.clock.now() - bus.settings.stuck_after


def future_cutoff() -> datetime:
    """A message dated after this was logged by a clock ahead of ours (ADR 0022)."""
    bus = runtime().bus
    return bus.clock.now() + bus.settings.clock_tolerance


def stuck_condition(cutoff: datetime) -> Any:
    unfinished = [status for status in STATUSES if status not in TERMINAL]  # index-friendly
    unfinished_and_silent = and_(col(Order.status).in_(unfinished),
                                 col(Order.id).not_in(flows.moved_since(cutoff)),
                                 col(Order.id).not_in(flows.archived()))
    from_the_future = and_(col(Order.status).in_(unfinished),
                           col(Order.id).in_(flows.moved_since(future_cutoff())))
    return or_(unfinished_and_silent, from_the_future, col(Order.id).in_(flows.blocked()))


def stuck_among(session: Session, orders: list[Order]) -> set[str]:
    """The ids of these orders that are stuck, by the same rule as ``stuck_condition``."""
    silent = set(silent_among(session, orders))
    return silent | flows.blocked_among(session, [order.id for order in orders])


def silent_among(session: Session, orders: list[Order]) -> dict[str, datetime | None]:
    """The unfinished orders among these whose flow has published nothing since the cutoff,
    with the time of their last message."""
    unfinished = [order.id for order in orders if order.status not in TERMINAL]
    unfinished = sorted(set(unfinished) - flows.archived_among(session, unfinished))
    moved, cutoff, future = flows.last_moved(session, unfinished), stuck_cutoff(), future_cutoff()
    return {order_id: moved.get(order_id) for order_id in unfinished
            if order_id not in moved or not cutoff <= moved[order_id] <= future}


@blueprint.get("/<order_id>/timeline", operation_id="getTimeline",
               responses={200: TimelineOut, 404: Problem})
def get_timeline(path: OrderPath) -> Any:
    """The order's messages in publication order, with each receiver's state.

    Each entry is ``{"seq", "event", "deliveries"}``: its place in the whole log, the message
    as a CloudEvent (as ``/events`` serves it) and one delivery per receiver."""
    return timeline(path.order_id)


def timeline(order_id: str) -> dict[str, Any]:
    """With ``history.archived`` true the messages before ``history.archived_at`` were pruned
    after the retention period (only what came after, if anything, is listed)."""
    with runtime().bus.db.reading() as session:
        _find(session, order_id)
        envelopes, deliveries = load_flow(session, order_id)
        history = history_view(archived_history(session, order_id))
    return {"order_id": order_id,
            "messages": [{"seq": envelope.seq, "event": served(envelope),
                          "deliveries": [_delivery_view(row)
                                         for row in deliveries.get(envelope.id, [])]}
                         for envelope in envelopes],
            "history": history}


_EVENTS_RESPONSES: dict[int, Any] = {
    200: {"description": "the whole timeline as a CloudEvents JSON batch",
          "content": {cloudevents.BATCH: {"schema": {"type": "array",
                                                     "items": cloudevents.event_schema()}}}},
    404: Problem}
_EVENT_RESPONSES: dict[int, Any] = {
    200: {"description": "the event: structured mode, or with ?mode=binary its data (the "
                         "attributes are the ce- headers)",
          "content": {cloudevents.STRUCTURED: {"schema": cloudevents.event_schema()},
                      "application/json": {"schema": {"type": "object"}}}},
    404: Problem}


@blueprint.get("/<order_id>/events", operation_id="getEvents", responses=_EVENTS_RESPONSES)
def get_events(path: OrderPath) -> Response:
    """The order's messages as a CloudEvents JSON batch, in publication order.

    ``application/cloudevents-batch+json``: a JSON array of structured events, the whole
    timeline's ``event``s without their delivery state."""
    return cloudevents.batch(events(path.order_id))


@blueprint.get("/<order_id>/events/<event_id>", operation_id="getEvent",
               responses=_EVENT_RESPONSES)
def get_event(path: EventPath, query: EventQuery) -> Response:
    """One of the order's messages as a CloudEvent, in structured or binary mode.

    By default structured (``application/cloudevents+json``: attributes and data in the
    body); ``?mode=binary``: the attributes as ``ce-`` headers, the data as the body with its
    ``datacontenttype`` as ``Content-Type``. 404 ``event_not_found`` when the order has no
    such event."""
    found = event(path.order_id, path.event_id)
    return cloudevents.binary(found) if query.mode == "binary" else cloudevents.structured(found)


def events(order_id: str) -> list[dict[str, Any]]:
    with runtime().bus.db.reading() as session:
        _find(session, order_id)
        return [served(envelope) for envelope in flow_messages(session, order_id)]


def event(order_id: str, event_id: str) -> dict[str, Any]:
    with runtime().bus.db.reading() as session:
        _find(session, order_id)
        envelope = flow_message(session, order_id, event_id)
    if envelope is None:
        raise ApiError(404, "event_not_found", f"order {order_id!r} has no event {event_id!r}")
    return served(envelope)


def served(envelope: Envelope) -> dict[str, Any]:
    """A logged message as the API shows it: a CloudEvent with the payment token redacted."""
    return redacted(envelope.to_cloudevent())


def history_view(note: ArchivedHistory | None) -> dict[str, Any]:
    """Whether the order's message history is still there, or was archived (ADR 0016)."""
    if note is None:
        return {"archived": False}
    return {"archived": True, "archived_at": timestamp(note.archived_at),
            "messages": note.messages, "first_message_at": timestamp(note.first_message_at),
            "last_message_at": timestamp(note.last_message_at),
            "note": f"This order's message history was archived on "
                    f"{note.archived_at:%Y-%m-%d} after the retention period "
                    f"({note.messages} messages)."}


SECRET_FIELDS = ("payment_token", "token")


def redacted(event: dict[str, Any]) -> dict[str, Any]:
    """The payment token travels in messages but never leaves through the API."""
    data = {key: "[redacted]" if key in SECRET_FIELDS else value
            for key, value in event["data"].items()}
    return {**event, "data": data}


def read(order_id: str) -> dict[str, Any]:
    with runtime().bus.db.reading() as session:
        return read_in(session, order_id)


def read_in(session: Session, order_id: str) -> dict[str, Any]:
    """The order as ``GET /api/orders/<id>`` shows it, read in this session (the transaction
    that places an order reads its answer before it commits)."""
    order = _find(session, order_id)
    lines = session.exec(select(OrderLineRecord).where(OrderLineRecord.order_id == order_id)
                         .order_by(col(OrderLineRecord.id))).all()
    view = order_view(order, list(lines))
    timers = deadlines.of_flow(session, order_id)
    view["deadlines"] = [{**d, "due_at": timestamp(d["due_at"]),
                          "closed_at": timestamp(d["closed_at"])} for d in timers]
    view["stuck"] = stuck_view(outbox.parked_of_flow(session, order_id),
                               [d for d in timers if d["status"] == "failed"],
                               _silence(session, order))
    view["history"] = history_view(archived_history(session, order_id))
    return view


def _silence(session: Session, order: Order) -> str | None:
    """'no message for 2 h 5 min', when an unfinished order has been silent too long: the
    same rule as ``stuck_among``."""
    silent = silent_among(session, [order])
    if order.id not in silent:
        return None
    last, now = silent[order.id], runtime().bus.clock.now()
    if last and last > now:
        return (f"its latest message is dated {span(now - last)}: the clock went "
                f"back (see 'orderflow clock status'); waiting at {order.status}")
    since = f"no message for {span(now - last)}" if last else "no message"
    return f"{since} (unfinished, waiting at {order.status})"


def stuck_view(parked: list[dict[str, Any]], failed_deadlines: list[dict[str, Any]],
               silence: str | None = None) -> dict[str, Any] | None:
    """Why an order does not move: a delivery that ran out of retries waits for an operator,
    a deadline could not fire, or nothing has happened for longer than ORDERFLOW_STUCK_AFTER."""
    reasons = [f"{p['receiver']} gave up on {p['type'].rsplit('.', 1)[-1]} after "
               f"{p['attempts']} attempts: {p['last_error']}" for p in parked]
    reasons += [f"the {d['name']} deadline could not fire: {d['last_error']}"
                for d in failed_deadlines]
    reasons += [silence] if silence else []
    if not reasons:
        return None
    return {"why": reasons[0],
            "deadletters": [{"id": p["id"], "receiver": p["receiver"], "message": p["type"],
                             "attempts": p["attempts"], "last_error": p["last_error"]}
                            for p in parked],
            "failed_deadlines": [d["name"] for d in failed_deadlines]}


def _find(session: Session, order_id: str) -> Order:
    order = session.exec(select(Order).where(Order.id == order_id)).first()
    if order is None:
        raise ApiError(404, "order_not_found", f"there is no order {order_id!r}")
    return order


def order_view(order: Order, lines: list[OrderLineRecord] | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": order.id, "status": order.status, "reason": order.reason, "style": order.style,
        "flow": order.flow,
        "customer": {"id": order.customer_id, "name": order.customer_name,
                     "address": order.address, "vip": order.vip},
        "total": money(order.total_cents),
        "created_at": timestamp(order.created_at), "updated_at": timestamp(order.updated_at),
    }
    if lines is not None:
        view["items"] = [{"sku": li.sku, "name": li.name, "quantity": li.quantity,
                          "unit_price": money(li.unit_price_cents)} for li in lines]
    return view


def _delivery_view(row: dict[str, Any]) -> dict[str, Any]:
    return {"receiver": row["receiver"], "module": row["module"], "status": row["status"],
            "attempts": row["attempts"], "last_error": row["last_error"],
            "next_attempt_at": timestamp(row["next_attempt_at"]) if row["status"] != "done"
            else None}


def _encode_cursor(seq: int | None) -> str:
    return base64.urlsafe_b64encode(f"o:{seq}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError(cursor)
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        if prefix != "o":
            raise ValueError(cursor)
        return int(number)
    except ValueError:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API handed out",
                       [{"where": "query.cursor", "problem": "unknown cursor"}]) from None
