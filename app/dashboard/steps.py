"""Where an order is now, in one sentence, from its view, its message log and its open tasks:
the same answer in every style, because it reads what happened rather than a saga's state."""

from __future__ import annotations

import re
from typing import Any

from app.bus.log import WAITING
from app.bus.messages import message_class
from app.dashboard.diagrams import short

_CODE_PATH = re.compile(r"\b(?:[A-Za-z_]\w*\.)+[A-Z]\w*: ")  # app.modules....SomeError:
_RECEIVER = re.compile(r"\b([a-z]+)\.when_\w+")  # payment.when_asked_to_..._it


def plain(text: str | None) -> str:
    """What went wrong, for people: without the exception's code path and the receiver's
    function name ("payment gave up on RetrievePayment after 5 attempts: payment provider
    unavailable (tok_outage, attempt 5)")."""
    return _RECEIVER.sub(r"\1", _CODE_PATH.sub("", text or ""))


def current_step(order: dict[str, Any], messages: list[dict[str, Any]],
                 open_tasks: list[dict[str, Any]]) -> str:
    if order["status"] == "delivered":
        return "delivered" + _invoice_note(order)
    if order["status"] == "cancelled":
        return f"cancelled ({order['reason']})"
    stuck = order["stuck"]
    if stuck and stuck["deadletters"]:
        return "waiting for an operator to retry (below, or on the dead letters page)"
    if stuck and stuck["failed_deadlines"]:
        return "waiting for an operator to fire the deadline again"
    handling = _being_handled(messages)
    if handling:
        return handling
    if open_tasks:
        return "waiting for the call centre to clarify the payment"
    return _next_deadline(order) or f"{order['status']}, waiting for the next message"


def _being_handled(messages: list[dict[str, Any]]) -> str | None:
    """The first delivery still under way of a message the flow waits for (a webhook being
    retried is not where the order is)."""
    for message in messages:
        if message_class(message["event"]["type"]).outside_the_flow:
            continue
        for delivery in message["deliveries"]:
            if delivery["status"] in WAITING:
                retrying = (f", retrying after {delivery['attempts']} failed attempt(s)"
                            if delivery["status"] == "failed" else "")
                return (f"{delivery['module']} is handling {short(message['event']['type'])}"
                        f"{retrying}")
    return None


def _next_deadline(order: dict[str, Any]) -> str | None:
    pending = sorted((d for d in order["deadlines"] if d["status"] == "pending"),
                     key=lambda d: d["due_at"])
    if not pending:
        return None
    due = pending[0]["due_at"][:16].replace("T", " ")
    return f"waiting: the {pending[0]['name']} deadline falls due at {due} UTC"


def _invoice_note(order: dict[str, Any]) -> str:
    due = [d for d in order["deadlines"] if d["status"] == "pending"]
    return f"; the {due[0]['name']} deadline is pending ({due[0]['due_at']})" if due else ""
