"""Bounded growth (ADR 0016): the message log of a finished order is pruned once its last message
is older than ORDERFLOW_RETAIN_FINISHED (P90D by default), in batches; what is unfinished, waits
for an operator or a deadline, or finished recently is kept; the order's business rows stay and
its pages say the history was archived. On SQLite and PostgreSQL alike."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from app.bus import Pruned
from app.bus.log import (
    PARKED,
    ArchivedFlowRecord,
    DeadlineRecord,
    DeliveryRecord,
    MessageRecord,
    ProcessedRecord,
)
from app.clock import ManualClock
from app.config import STYLES
from tests.conftest import ADMIN_HEADERS, on_every_database
from tests.integration.test_dashboard import Dashboard
from tests.shop import Shop

pytestmark = on_every_database
EVERY_STYLE = pytest.mark.parametrize("style", STYLES)


@pytest.fixture
def shop(app: Flask, clock: ManualClock) -> Shop:
    return Shop(app, clock)


def bus_rows(shop: Shop, order_id: str) -> dict[str, int]:
    """How many rows of each bus table belong to this order's flow."""
    with shop.runtime.bus.db.reading() as session:
        def count(model: Any, condition: Any) -> int:
            return session.execute(select(func.count()).select_from(model)
                                   .where(condition)).scalar_one()

        message_ids = select(MessageRecord.id).where(MessageRecord.flowid == order_id)
        return {"messages": count(MessageRecord, MessageRecord.flowid == order_id),
                "deliveries": count(DeliveryRecord, DeliveryRecord.flowid == order_id),
                "processed": count(ProcessedRecord, ProcessedRecord.message_id.in_(message_ids)),
                "deadlines": count(DeadlineRecord, DeadlineRecord.flowid == order_id)}


def archive_rows(shop: Shop) -> int:
    with shop.runtime.bus.db.reading() as session:
        return session.execute(select(func.count()).select_from(ArchivedFlowRecord)).scalar_one()


def prune(shop: Shop, **options: Any) -> Pruned:
    return shop.runtime.bus.prune(**options)


def counts(pruned: Pruned) -> tuple[int, ...]:
    """What was pruned, without the time it took."""
    return (pruned.flows, pruned.messages, pruned.deliveries, pruned.processed,
            pruned.deadlines)


NOTHING = (0, 0, 0, 0, 0)


@EVERY_STYLE
def test_a_finished_order_past_retention_is_pruned_and_its_business_rows_stay(
        shop: Shop, style: str) -> None:
    order = shop.place(style=style)
    shop.settle()
    before = bus_rows(shop, order)
    payments = shop.client.get(f"/api/payments?order_id={order}").get_json()["items"]
    shop.pass_time("P91D")

    pruned = prune(shop)

    assert (pruned.flows, pruned.messages, pruned.deliveries, pruned.processed) == (
        1, before["messages"], before["deliveries"], before["processed"])
    assert pruned.deadlines == before["deadlines"] == 1  # the price hold, cancelled when paid
    assert bus_rows(shop, order) == {"messages": 0, "deliveries": 0, "processed": 0,
                                     "deadlines": 0}
    view = shop.order(order)
    assert view["status"] == "delivered" and view["items"] and view["stuck"] is None
    assert view["history"]["archived"] is True
    assert view["history"]["messages"] == before["messages"]
    assert view["history"]["archived_at"].startswith(shop.clock.now().date().isoformat())
    assert shop.client.get(f"/api/payments?order_id={order}").get_json()["items"] == payments


def test_the_api_says_the_history_was_archived(shop: Shop) -> None:
    order = shop.place(style="hybrid")
    shop.settle()
    assert shop.order(order)["history"] == {"archived": False}
    assert shop.client.get(f"/api/orders/{order}/timeline").get_json()["history"] == {
        "archived": False}
    messages = len(shop.timeline(order))
    shop.pass_time("P91D")
    prune(shop)

    response = shop.client.get(f"/api/orders/{order}/timeline")

    assert response.status_code == 200
    body = response.get_json()
    assert body["messages"] == []
    history = body["history"]
    assert history["archived"] is True and history["messages"] == messages
    assert history["first_message_at"] <= history["last_message_at"] < history["archived_at"]
    assert history["note"] == (f"This order's message history was archived on "
                               f"{shop.clock.now():%Y-%m-%d} after the retention period "
                               f"({messages} messages).")
    assert shop.order(order)["history"] == history


def test_the_order_page_says_the_history_was_archived_and_draws_no_diagram(
        app: Flask, shop: Shop) -> None:
    order = shop.place(style="choreography")
    shop.settle()
    messages = len(shop.timeline(order))
    operator = Dashboard(app)
    operator.login()
    assert operator.get(f"/orders/{order}").by_id("sequence") is not None
    shop.pass_time("P91D")
    prune(shop)

    page = operator.get(f"/orders/{order}")

    sentence = " ".join(page.by_id("history-archived").text.split())
    assert (f"This order's message history was archived on {shop.clock.now():%Y-%m-%d} after "
            f"the retention period ({messages} messages") in sentence
    assert page.all(id="sequence") == [] and page.all(id="timeline") == []
    assert page.by_id("order-status").text.strip() == "delivered"


def test_unfinished_parked_and_waiting_flows_are_kept(shop: Shop) -> None:
    unfinished = shop.place(style="hybrid", token="tok_clarify")  # waits for the call centre
    parked = shop.place(style="hybrid")
    vip = shop.place(style="hybrid", vip=True)  # delivered; its invoice waits on a deadline
    shop.settle()
    with shop.runtime.bus.db.session() as session:  # a dead letter nobody has dealt with
        session.execute(update(DeliveryRecord).where(DeliveryRecord.flowid == parked)
                        .values(status=PARKED))
        session.commit()
    assert shop.order(parked)["status"] == shop.order(vip)["status"] == "delivered"
    shop.pass_time("PT2H")

    assert counts(prune(shop, older_than=timedelta(hours=1))) == NOTHING

    for order in (unfinished, parked, vip):
        assert bus_rows(shop, order)["messages"] > 0
        assert shop.order(order)["history"] == {"archived": False}


def test_a_vip_order_is_kept_while_its_invoice_waits_and_pruned_after(shop: Shop) -> None:
    vip = shop.place(style="orchestration", vip=True)
    shop.settle()
    shop.pass_time("P29D")
    assert counts(prune(shop, older_than=timedelta(days=1))) == NOTHING  # invoice_due pending

    shop.pass_time("P2D")  # the invoice falls overdue: nothing is pending any more
    assert [d["status"] for d in shop.order(vip)["deadlines"]] == ["fired"]
    assert counts(prune(shop)) == NOTHING  # ... but that was just now
    shop.pass_time("P91D")

    assert prune(shop).flows == 1 and shop.order(vip)["history"]["archived"]
    assert [i["status"] for i in shop.invoices(vip)] == ["overdue"]  # payment's rows stay


def test_a_recently_finished_order_is_kept_until_its_retention_is_over(shop: Shop) -> None:
    order = shop.place(style="choreography")
    shop.settle()
    shop.pass_time("P89D")
    assert counts(prune(shop)) == NOTHING and not shop.order(order)["history"]["archived"]

    shop.pass_time("P2D")

    assert prune(shop).flows == 1 and shop.order(order)["history"]["archived"]


def test_more_flows_than_one_batch_are_pruned_batch_by_batch(shop: Shop) -> None:
    orders = [shop.place(style=STYLES[n % 3]) for n in range(5)]
    shop.settle()
    shop.pass_time("P91D")
    batches: list[Pruned] = []

    total = prune(shop, batch=2, progress=batches.append)

    assert [batch.flows for batch in batches] == [2, 2, 1]
    assert total.flows == 5 and total.batches == 3
    assert total.messages == sum(batch.messages for batch in batches)
    assert all(shop.order(order)["history"]["archived"] for order in orders)
    assert archive_rows(shop) == 5


def test_a_dry_run_counts_and_changes_nothing(shop: Shop) -> None:
    order = shop.place(style="orchestration")
    shop.settle()
    shop.pass_time("P91D")
    before = bus_rows(shop, order)

    counted = prune(shop, dry_run=True)

    assert (counted.flows, counted.messages) == (1, before["messages"])
    assert bus_rows(shop, order) == before and archive_rows(shop) == 0
    assert counts(prune(shop)) == counts(counted)


def test_pruning_twice_is_harmless(shop: Shop) -> None:
    order = shop.place(style="hybrid")
    shop.settle()
    shop.pass_time("P91D")
    first = prune(shop)
    archived = shop.order(order)["history"]

    again = prune(shop)

    assert first.flows == 1 and again.flows == 0 and again.messages == 0
    assert shop.order(order)["history"] == archived and archive_rows(shop) == 1


def test_an_archived_order_is_never_stuck(shop: Shop) -> None:
    done = shop.place(style="choreography")
    waiting = shop.place(style="choreography", token="tok_clarify")
    shop.settle()
    shop.complete_task(waiting, "declined")
    shop.pass_time("P91D")
    assert prune(shop).flows == 2
    listed = shop.client.get("/api/orders?stuck=true", headers=ADMIN_HEADERS).get_json()
    assert listed["items"] == []
    flags = shop.client.get("/api/orders", headers=ADMIN_HEADERS).get_json()["items"]
    assert {item["id"]: item["stuck"] for item in flags} == {done: False, waiting: False}
    assert shop.order(waiting)["stuck"] is None

    # An archive note for an order whose status says unfinished (a log and a status that
    # disagree): its silence is the archive's, not a flow that stopped moving.
    silent = shop.place(style="choreography", token="tok_clarify")
    shop.settle()
    with shop.runtime.bus.db.session() as session:
        session.add(ArchivedFlowRecord(flowid=silent, messages=3,
                                       archived_at=shop.clock.now()))
        session.commit()
    shop.pass_time("PT1H")
    listed = shop.client.get("/api/orders?stuck=true", headers=ADMIN_HEADERS).get_json()
    assert listed["items"] == [] and shop.order(silent)["stuck"] is None


def test_a_message_logged_after_the_archive_is_shown_and_pruned_into_it_later(
        shop: Shop) -> None:
    order = shop.place(style="hybrid", vip=True)
    shop.settle()
    shop.pass_time("P31D")  # the invoice fell overdue, and nobody paid
    shop.pass_time("P91D")
    messages = prune(shop).messages
    assert messages
    (invoice,) = shop.invoices(order)

    shop.pay_invoice(invoice["id"])  # a late payment after all

    body = shop.client.get(f"/api/orders/{order}/timeline").get_json()
    assert [m["event"]["type"].rsplit(".", 1)[-1] for m in body["messages"]] == ["InvoicePaid"]
    assert body["history"]["archived"] and body["history"]["messages"] == messages
    shop.pass_time("P91D")
    assert prune(shop).flows == 1
    assert shop.order(order)["history"]["messages"] == messages + 1
    assert shop.timeline(order) == [] and archive_rows(shop) == 1


def test_two_prunes_racing_archive_each_flow_once(make_app: Callable[..., Flask],
                                                  clock: ManualClock) -> None:
    first, second = make_app(), make_app(seed=False)
    shop = Shop(first, clock)
    orders = [shop.place(style=STYLES[n % 3]) for n in range(12)]
    shop.settle()
    shop.pass_time("P91D")
    start, results, errors = threading.Barrier(2), [], []

    def run(app: Flask) -> None:
        try:
            start.wait()
            results.append(app.extensions["orderflow"].bus.prune(batch=1))
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(app,)) for app in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sum(result.flows for result in results) == len(orders)
    assert archive_rows(shop) == len(orders)
    assert all(bus_rows(shop, order)["messages"] == 0 for order in orders)


def test_retention_never_prunes_nothing_and_the_app_schedules_no_job(
        make_app: Callable[..., Flask], clock: ManualClock) -> None:
    app = make_app(retain_finished=None)
    shop = Shop(app, clock)
    order = shop.place(style="hybrid")
    shop.settle()
    shop.pass_time("P400D")

    assert counts(prune(shop)) == NOTHING and not shop.order(order)["history"]["archived"]
    runtime = app.extensions["orderflow"]
    runtime.start()
    assert runtime.scheduler.get_job("prune") is None


def test_the_running_app_prunes_every_few_minutes(app: Flask) -> None:
    runtime = app.extensions["orderflow"]
    runtime.start()
    job = runtime.scheduler.get_job("prune")
    assert job is not None and job.trigger.interval == timedelta(minutes=5)
    assert job.max_instances == 1


def test_the_prune_command_reports_batches_and_totals(app: Flask, shop: Shop) -> None:
    orders = [shop.place(style="hybrid") for _ in range(3)]
    shop.settle()
    shop.pass_time("P40D")
    runner = app.test_cli_runner()

    default = runner.invoke(args=["orderflow", "prune"])  # P90D: nothing is that old
    dry = runner.invoke(args=["orderflow", "prune", "--dry-run", "--older-than", "P30D",
                              "--batch", "2"])
    real = runner.invoke(args=["orderflow", "prune", "--older-than", "P30D", "--batch", "2"])
    bad = runner.invoke(args=["orderflow", "prune", "--older-than", "a month"])

    assert default.exit_code == 0 and default.output.startswith("pruned 0 flows")
    assert dry.exit_code == 0, dry.output
    lines = dry.output.splitlines()
    assert lines[0].startswith("batch 1: would prune 2 flows")
    assert lines[1].startswith("batch 2: would prune 1 flows")
    assert lines[2].startswith("would prune 3 flows") and "in 2 batch(es)" in lines[2]
    assert real.exit_code == 0 and real.output.splitlines()[-1].startswith("pruned 3 flows")
    assert all(shop.order(order)["history"]["archived"] for order in orders)
    assert bad.exit_code == 2 and "--older-than" in bad.output


def test_a_run_that_prunes_logs_one_line_and_one_that_does_not_stays_quiet(
        shop: Shop, caplog: pytest.LogCaptureFixture) -> None:
    shop.place(style="hybrid")
    shop.settle()
    shop.pass_time("P91D")
    caplog.set_level("INFO", logger="orderflow.retention")

    shop.runtime.prune()  # what the scheduler calls every few minutes
    shop.runtime.prune()

    (line,) = [record.getMessage() for record in caplog.records
               if record.name == "orderflow.retention"]
    assert line.startswith("retention: pruned 1 flows, ") and "in 1 batch(es)" in line


def test_a_closing_app_stops_pruning_after_the_current_batch(shop: Shop) -> None:
    for _ in range(3):
        shop.place(style="hybrid")
    shop.settle()
    shop.pass_time("P91D")
    stopping = iter([False, True])

    pruned = shop.runtime.bus.prune(batch=1, stopping=lambda: next(stopping))

    assert pruned.batches == 1 and pruned.flows == 1
