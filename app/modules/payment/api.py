"""Payment over HTTP: the call centre's clarification tasks, invoices, and an order's payments.
Tasks are for operators (they show customers' names); invoices and payments are read by order
id, like the order itself; completing a task or paying an invoice needs the admin token."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import tuple_
from sqlmodel import col, select

from app.bus import UnitOfWork
from app.bus.effects import calls_outside
from app.clock import as_utc
from app.http.auth import require_admin, writes_need_an_admin
from app.http.errors import ApiError, Problem
from app.http.formats import Money, Strict, Timestamp, money, runtime, timestamp
from app.http.openapi import ADMIN
from app.modules.payment import service
from app.modules.payment.models import PLANNED, Invoice, Payment, Refund, Task

blueprint = APIBlueprint("payment", __name__, url_prefix="/api",
                         abp_tags=[Tag(name="payment")])
blueprint.before_request(writes_need_an_admin)
TASK_STATUSES = ("open", "approved", "declined", "cancelled")
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
MAX_CURSOR = 120


class TaskQuery(Strict):
    status: Literal[TASK_STATUSES] = "open"  # type: ignore[valid-type]
    order_id: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = None
    limit: Annotated[int, Field(ge=1, le=200)] = 50
    cursor: str | None = None  # checked by _decode_cursor, so that any bogus one is a 400


class TaskPath(Strict):
    task_id: str


class CompleteTaskIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"outcome": "approved", "note": "the customer confirmed on the phone"}]})

    outcome: Literal["approved", "declined"]
    note: Note | None = None


class ByOrderQuery(Strict):
    order_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class InvoicePath(Strict):
    invoice_id: str


class CustomerRef(BaseModel):
    id: str
    name: str


class TaskOut(BaseModel):
    id: str
    kind: str
    status: Literal[TASK_STATUSES]  # type: ignore[valid-type]
    order_id: str
    amount: Money
    customer: CustomerRef
    opened_at: Timestamp
    age_seconds: int
    closed_at: Timestamp | None
    note: str | None


class TaskPageOut(BaseModel):
    items: list[TaskOut]
    next_cursor: str | None


class InvoiceOut(BaseModel):
    id: str
    order_id: str
    amount: Money
    status: str
    due_at: Timestamp | None
    sent_at: Timestamp | None
    paid_at: Timestamp | None


class InvoicesOut(BaseModel):
    items: list[InvoiceOut]


class PaymentOut(BaseModel):
    id: str
    status: str
    amount: Money
    method: str
    reason: str | None
    created_at: Timestamp


class RefundOut(BaseModel):
    id: str
    payment_id: str
    amount: Money
    created_at: Timestamp


class PaymentsOut(BaseModel):
    items: list[PaymentOut]
    refunds: list[RefundOut]


# --- tasks ------------------------------------------------------------------------------------
@blueprint.get("/tasks", operation_id="listTasks", security=ADMIN,
               responses={200: TaskPageOut, 400: Problem, 401: Problem, 403: Problem})
def list_tasks(query: TaskQuery) -> Any:
    """Clarification tasks, oldest first (the longest wait on top): order id, amount, customer,
    age; one order's with ``order_id=``. Page with ``cursor=<next_cursor>``."""
    require_admin()
    return tasks_page(query)


def tasks_page(query: TaskQuery) -> dict[str, Any]:
    statement = (select(Task).where(Task.status == query.status)
                 .order_by(col(Task.opened_at), col(Task.id)).limit(query.limit + 1))
    if query.order_id:
        statement = statement.where(Task.order_id == query.order_id)
    if query.cursor:
        opened_at, task_id = _decode_cursor(query.cursor)
        statement = statement.where(tuple_(col(Task.opened_at), col(Task.id))
                                    > tuple_(opened_at, task_id))
    with runtime().bus.db.reading() as session:
        tasks = list(session.exec(statement))
    page, more = tasks[: query.limit], len(tasks) > query.limit
    now = runtime().bus.clock.now()
    return {"items": [task_view(task, now) for task in page],
            "next_cursor": _encode_cursor(page[-1]) if more else None}


@blueprint.post("/tasks/<task_id>/complete", operation_id="completeTask", security=ADMIN,
                responses={200: TaskOut, 401: Problem, 403: Problem, 404: Problem, 409: Problem})
def complete_task(path: TaskPath, body: CompleteTaskIn) -> Any:
    """The call centre's answer. ``approved``: the money is collected and the order goes on;
    ``declined``: the order is cancelled (``payment_declined``)."""
    require_admin()
    return complete(path.task_id, body)


def complete(task_id: str, answer: CompleteTaskIn) -> dict[str, Any]:
    """Two steps (ADR 0020): the answer is recorded as being passed on and committed, then the
    provider is told outside any transaction and the outcome is committed."""
    bus = runtime().bus
    uow = bus.unit_of_work(module="payment")
    with uow:
        task = _found(uow, Task, task_id, "task")
        with _conflicts():
            service.begin_review(uow, task.id)
        uow.commit()
    return _finish_review(uow, task, answer)


@calls_outside
def _finish_review(uow: UnitOfWork, task: Task, answer: CompleteTaskIn) -> dict[str, Any]:
    with uow:
        resume_flow_of(uow, task.style, task.opened_by)
        with _conflicts():
            done = service.finish_review(uow, task.id, approved=answer.outcome == "approved",
                                         note=answer.note)
        uow.commit()
        return task_view(done, uow.bus.clock.now())


@contextmanager
def _conflicts() -> Iterator[None]:
    try:
        yield
    except service.TooLate as late:
        raise ApiError(409, "price_hold_expired", str(late)) from None
    except service.NotOpen as closed:
        raise ApiError(409, "task_closed", f"{closed}; only an open task can be "
                       "completed") from None


def resume_flow_of(uow: UnitOfWork, style: str, caused_by: str | None) -> None:
    """What an operator does continues the order's flow: in its style, traced to the message
    that made it wait."""
    uow.style, uow.caused_by = style, caused_by


def task_view(task: Task, now: datetime) -> dict[str, Any]:
    age = (as_utc(task.closed_at) if task.closed_at else now) - as_utc(task.opened_at)
    return {"id": task.id, "kind": task.kind, "status": task.status, "order_id": task.order_id,
            "amount": money(task.amount_cents),
            "customer": {"id": task.customer_id, "name": task.customer_name},
            "opened_at": timestamp(task.opened_at), "age_seconds": int(age.total_seconds()),
            "closed_at": timestamp(task.closed_at), "note": task.note}


def _encode_cursor(task: Task) -> str:
    text = f"{as_utc(task.opened_at).isoformat()}|{task.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        if len(cursor) > MAX_CURSOR:
            raise ValueError(cursor)
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        opened_at, task_id = text.split("|")
        return datetime.fromisoformat(opened_at), task_id
    except ValueError:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API handed out",
                       [{"where": "query.cursor", "problem": "unknown cursor"}]) from None


# --- invoices and payments --------------------------------------------------------------------
@blueprint.get("/invoices", operation_id="listInvoices", responses={200: InvoicesOut})
def list_invoices(query: ByOrderQuery) -> Any:
    """An order's invoices (VIP customers pay later): amount, due date, status."""
    return invoices_of(query.order_id)


def invoices_of(order_id: str) -> dict[str, Any]:
    with runtime().bus.db.reading() as session:
        invoices = session.exec(select(Invoice).where(Invoice.order_id == order_id,
                                                      Invoice.status != PLANNED)
                                .order_by(col(Invoice.created_at))).all()
        return {"items": [invoice_view(invoice) for invoice in invoices]}


@blueprint.post("/invoices/<invoice_id>/pay", operation_id="payInvoice", security=ADMIN,
                responses={200: InvoiceOut, 401: Problem, 403: Problem, 404: Problem,
                           409: Problem})
def pay_invoice(path: InvoicePath) -> Any:
    """Record that the customer paid the invoice (in full)."""
    require_admin()
    return pay(path.invoice_id)


def pay(invoice_id: str) -> dict[str, Any]:
    bus = runtime().bus
    with bus.unit_of_work(module="payment") as uow:
        invoice = _found(uow, Invoice, invoice_id, "invoice")
        resume_flow_of(uow, invoice.style, None)
        try:
            invoice = service.pay_invoice(uow, invoice.id)
        except service.NotOpen as closed:
            raise ApiError(409, "invoice_not_open", f"{closed}; only an open or overdue "
                           "invoice can be paid") from None
        uow.commit()
        return invoice_view(invoice)


def invoice_view(invoice: Invoice) -> dict[str, Any]:
    return {"id": invoice.id, "order_id": invoice.order_id, "amount": money(invoice.amount_cents),
            "status": invoice.status, "due_at": timestamp(invoice.due_at),
            "sent_at": timestamp(invoice.sent_at), "paid_at": timestamp(invoice.paid_at)}


@blueprint.get("/payments", operation_id="listPayments", responses={200: PaymentsOut})
def list_payments(query: ByOrderQuery) -> Any:
    """What was collected for an order and what was given back, from payment's own books."""
    return payments_of(query.order_id)


def payments_of(order_id: str) -> dict[str, Any]:
    with runtime().bus.db.reading() as session:
        payments = session.exec(select(Payment).where(Payment.order_id == order_id)).all()
        refunds = session.exec(select(Refund).where(Refund.order_id == order_id)).all()
        return {"items": [{"id": p.id, "status": p.status, "amount": money(p.amount_cents),
                           "method": p.method, "reason": p.reason,
                           "created_at": timestamp(p.created_at)} for p in payments],
                "refunds": [{"id": r.id, "payment_id": r.payment_id,
                             "amount": money(r.amount_cents),
                             "created_at": timestamp(r.created_at)} for r in refunds]}


def _found(uow: UnitOfWork, model: type, key: str, what: str) -> Any:
    """The service locks what it changes; here we only need to know it exists, and its flow."""
    found = uow.session.get(model, key)
    if found is None:
        raise ApiError(404, f"{what}_not_found", f"there is no {what} {key!r}")
    return found



