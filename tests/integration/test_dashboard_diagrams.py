"""The dashboard's sequence diagram and current step, on small hand-made message logs: what
each kind of delivery looks like, and which sentence wins when several things are going on."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app.dashboard.diagrams import sequence
from app.dashboard.steps import current_step
from app.modules.orders.contracts import OrderPlaced
from app.modules.payment.contracts import PaymentRefunded, RefundPayment, RetrievePayment
from app.modules.shipping.contracts import GoodsShipped

ORDER_PLACED = OrderPlaced.type_name()  # an event orders owns
RETRIEVE_PAYMENT = RetrievePayment.type_name()  # a command orders sends to payment
REFUND_PAYMENT = RefundPayment.type_name()  # a compensating command
PAYMENT_REFUNDED = PaymentRefunded.type_name()  # a compensating event
GOODS_SHIPPED = GoodsShipped.type_name()
CROSS = re.compile(r"^[a-z]+--?x[a-z]+: ")


def delivery(module: str, status: str = "done", attempts: int = 1) -> dict[str, Any]:
    return {"module": module, "receiver": f"{module}.when_it_happens", "status": status,
            "attempts": attempts, "last_error": None}


def message(type_name: str, source: str, kind: str, *deliveries: dict[str, Any]
            ) -> dict[str, Any]:
    """A timeline entry: the CloudEvent (the attributes the dashboard reads) and its
    deliveries."""
    return {"event": {"type": type_name, "source": f"/orderflow/{source}", "kind": kind},
            "deliveries": list(deliveries)}


def lines(diagram: str) -> list[str]:
    return [line.strip() for line in diagram.splitlines()]


# --- the sequence diagram -----------------------------------------------------------------------
def test_commands_are_solid_arrows_and_events_dashed_ones() -> None:
    diagram = sequence([
        message(ORDER_PLACED, "orders", "event", delivery("orders"), delivery("inventory")),
        message(RETRIEVE_PAYMENT, "orders", "command", delivery("payment")),
    ])

    assert lines(diagram) == [
        "sequenceDiagram",
        "participant orders", "participant payment", "participant inventory",
        "orders-->>orders: OrderPlaced", "orders-->>inventory: OrderPlaced",
        "orders->>payment: RetrievePayment",
    ]


@pytest.mark.parametrize(("kind", "type_name", "cross"), [
    ("command", RETRIEVE_PAYMENT, "orders-xpayment: RetrievePayment"),
    ("event", ORDER_PLACED, "orders--xpayment: OrderPlaced"),
])
def test_a_parked_delivery_is_a_cross_and_a_retrying_one_is_not(kind: str, type_name: str,
                                                                 cross: str) -> None:
    parked = sequence([message(type_name, "orders", kind, delivery("payment", "parked", 5))])
    retrying = sequence([message(type_name, "orders", kind, delivery("payment", "failed", 2))])

    assert [line for line in lines(parked) if CROSS.match(line)] == [cross]
    assert not any(CROSS.match(line) for line in lines(retrying))
    assert cross.replace("x", ">>", 1) in lines(retrying)


def test_a_message_nobody_listens_to_is_a_note_over_its_sender() -> None:
    diagram = lines(sequence([message(GOODS_SHIPPED, "shipping", "event")]))

    assert diagram == ["sequenceDiagram", "participant shipping",
                       "Note over shipping: GoodsShipped (nobody listens)"]


def test_compensation_is_boxed_in_a_rect_and_the_rest_is_not() -> None:
    diagram = lines(sequence([
        message(ORDER_PLACED, "orders", "event", delivery("orders")),
        message(REFUND_PAYMENT, "orders", "command", delivery("payment")),
        message(PAYMENT_REFUNDED, "payment", "event"),
    ]))

    body = diagram[3:]  # after the header and the two participants
    assert body[0] == "orders-->>orders: OrderPlaced"
    assert body[1].startswith("rect ") and body[2:4] == ["orders->>payment: RefundPayment", "end"]
    assert body[4].startswith("rect ") and body[6] == "end"
    assert body[5] == "Note over payment: PaymentRefunded (nobody listens)"
    assert len(body) == 7


def test_participants_come_in_the_modules_order_whoever_speaks_first() -> None:
    diagram = lines(sequence([
        message(GOODS_SHIPPED, "shipping", "event", delivery("orders"), delivery("payment")),
    ]))

    assert [line for line in diagram if line.startswith("participant")] == [
        "participant orders", "participant payment", "participant shipping"]


def test_a_type_this_version_no_longer_knows_is_drawn_plainly() -> None:
    diagram = lines(sequence([
        message("orderflow.orders.OrderRetired", "orders", "event", delivery("shipping")),
    ]))

    assert diagram[-1] == "orders-->>shipping: OrderRetired"
    assert not any(line.startswith("rect") for line in diagram)


def test_an_empty_log_is_an_empty_diagram() -> None:
    assert lines(sequence([])) == ["sequenceDiagram"]


# --- the current step -------------------------------------------------------------------------
def order(status: str = "placed", reason: str | None = None, stuck: Any = None,
          deadlines: tuple[dict[str, str], ...] = ()) -> dict[str, Any]:
    return {"status": status, "reason": reason, "stuck": stuck, "deadlines": list(deadlines)}


def deadline(name: str, due_at: str, status: str = "pending") -> dict[str, str]:
    return {"name": name, "due_at": due_at, "status": status,
            "message": "orderflow.orders.PriceHoldExpired"}


PARKED = {"why": "payment.when_asked gave up on RetrievePayment after 5 attempts: down",
          "deadletters": [{"id": 7}], "failed_deadlines": []}
SILENT = {"why": "no message for 31 min (unfinished, waiting at placed)", "deadletters": [],
          "failed_deadlines": []}
TASK = {"id": "task-1", "status": "open"}
PAYING = [message(ORDER_PLACED, "orders", "event", delivery("orders")),
          message(RETRIEVE_PAYMENT, "orders", "command", delivery("payment", "pending"))]


def test_a_delivered_order_says_so_and_names_a_pending_invoice_deadline() -> None:
    assert current_step(order("delivered"), [], []) == "delivered"

    step = current_step(order("delivered", deadlines=(
        deadline("price_hold", "2026-01-12T09:00:00+00:00", "cancelled"),
        deadline("invoice_due", "2026-02-04T09:00:00+00:00"))), [], [])

    assert step.startswith("delivered") and "invoice_due" in step and "2026-02-04" in step
    assert "price_hold" not in step


def test_a_cancelled_order_gives_its_reason() -> None:
    assert current_step(order("cancelled", "out_of_stock"), PAYING, [TASK]) == (
        "cancelled (out_of_stock)")


def test_a_dead_letter_wins_over_everything_still_moving() -> None:
    step = current_step(order(stuck=PARKED), PAYING, [TASK])

    assert step == "waiting for an operator to retry (below, or on the dead letters page)"


def test_a_silent_order_without_dead_letters_says_what_it_waits_for() -> None:
    step = current_step(order("payment_clarification", stuck=SILENT), [], [TASK])

    assert step == "waiting for the call centre to clarify the payment"


def test_the_first_waiting_delivery_is_the_step_and_a_retry_says_how_many_failed() -> None:
    assert current_step(order(), PAYING, []) == "payment is handling RetrievePayment"

    failing = [*PAYING[:1], message(RETRIEVE_PAYMENT, "orders", "command",
                                    delivery("payment", "failed", 2))]
    assert current_step(order(), failing, [TASK]) == (
        "payment is handling RetrievePayment, retrying after 2 failed attempt(s)")


def test_a_parked_delivery_alone_is_not_being_handled() -> None:
    parked = [message(RETRIEVE_PAYMENT, "orders", "command", delivery("payment", "parked", 5))]

    assert current_step(order(), parked, []) == "placed, waiting for the next message"


def test_an_open_task_is_the_call_centres_turn() -> None:
    done = [message(ORDER_PLACED, "orders", "event", delivery("orders"))]

    assert current_step(order("payment_clarification"), done, [TASK]) == (
        "waiting for the call centre to clarify the payment")


def test_otherwise_the_earliest_pending_deadline_is_named() -> None:
    step = current_step(order("placed", deadlines=(
        deadline("invoice_due", "2026-02-04T09:00:00+00:00"),
        deadline("price_hold", "2026-01-12T09:00:00+00:00"),
        deadline("earlier_but_fired", "2026-01-06T09:00:00+00:00", "fired"))), [], [])

    assert "price_hold" in step and "2026-01-12" in step
    assert "invoice_due" not in step and "earlier_but_fired" not in step


def test_with_nothing_going_on_the_order_waits_for_the_next_message() -> None:
    assert current_step(order("fetched"), [], []) == "fetched, waiting for the next message"
