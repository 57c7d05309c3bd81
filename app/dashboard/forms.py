"""HTML forms into the API's own request models, so a form is checked exactly like JSON."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from app.http.errors import ApiError
from app.http.operations import AdvanceIn
from app.modules.orders.api import PlaceOrderIn
from app.modules.payment.api import CompleteTaskIn

TOKENS = {  # the simulated provider's cards, and what each does
    "tok_ok": "pays at once",
    "tok_clarify": "held: the call centre must clarify it (a task)",
    "tok_decline": "declined",
    "tok_flaky": "fails twice, then pays (retries)",
    "tok_outage": "provider down for every automatic attempt (a dead letter)",
}
DEFAULTS = MultiDict({"customer_id": "c-42", "customer_name": "Ada Lovelace",
                      "address": "1 Main Street, Springfield", "sku": "sku-1",
                      "quantity": "1", "token": "tok_ok"})


class Invalid(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def order_request(form: MultiDict) -> PlaceOrderIn:
    body = {"customer": {"id": form.get("customer_id", ""), "name": form.get("customer_name", ""),
                         "address": form.get("address", ""), "vip": "vip" in form},
            "items": _items(form), "payment": {"token": form.get("token", "")},
            "style": form.get("style") or None, "flow": form.get("flow") or None}
    try:
        return PlaceOrderIn.model_validate(body)
    except ValidationError as error:
        raise Invalid(problems(error)) from None


def _items(form: MultiDict) -> list[dict[str, Any]]:
    """The item rows that name a product. A quantity that is not a whole number stays text,
    so that validation names it (``items.0.quantity``) beside any other problem."""
    rows = zip(form.getlist("sku"), form.getlist("quantity"), strict=False)
    return [{"sku": sku, "quantity": int(quantity) if _whole(quantity) else quantity}
            for sku, quantity in rows if sku.strip()]


def _whole(text: str) -> bool:
    return text.strip().isascii() and text.strip().isdigit()  # not '²', which int() refuses


def problems(error: ValidationError) -> list[str]:
    """'customer.name: String should have at least 1 character', one per problem."""
    return [f"{'.'.join(str(part) for part in e['loc']) or 'form'}: "
            f"{e['msg'].removeprefix('Value error, ')}" for e in error.errors()]


def refusal(error: ApiError) -> list[str]:
    """What the API refused, where and what as for a validation error: 'items.1.sku: unknown
    sku (not in the catalogue: sku-9)'."""
    if not error.details:
        return [error.message]
    return [f"{detail['where'].removeprefix('body.')}: {detail['problem']} ({error.message})"
            for detail in error.details]


def task_answer(form: MultiDict) -> CompleteTaskIn:
    try:
        return CompleteTaskIn(outcome=form.get("outcome", ""), note=form.get("note") or None)
    except ValidationError as error:
        raise ApiError(400, "invalid_request", "; ".join(problems(error))) from None


def duration(form: MultiDict) -> str:
    try:
        return AdvanceIn(by=form.get("by", "")).by
    except ValidationError as error:
        raise ApiError(400, "invalid_request", "; ".join(problems(error))) from None
