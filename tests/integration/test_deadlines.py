"""Deadlines are rows (DESIGN section 5): scheduled with the state change that sets them,
fired once by whichever process gets there first, cancelled with the change that makes them
moot, and fired at the next start when they fell due while the app was down."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import func, insert, select, update

from app.bus import Event, MessageBus, UnitOfWork, deadlines
from app.bus.log import DeadlineRecord, MessageRecord
from app.bus.manual_time import SharedManualClock
from app.clock import ManualClock, parse_duration
from app.db import Database, make_engine
from tests.conftest import ADMIN_HEADERS, on_every_database, wait_for
from tests.integration.test_bus_guarantees import effects, make_bus

pytestmark = on_every_database
STYLE = "choreography"


class ReminderDue(Event):
    note: str = ""


def remember(msg: ReminderDue, uow: UnitOfWork) -> None:
    with uow:
        uow.session.execute(insert(effects).values(receiver="reminder", note=msg.note))
        uow.commit()


@pytest.fixture
def buses(database_url: str, clock: ManualClock) -> Iterator[list[MessageBus]]:
    """Two buses on one database: two processes of the app."""
    made = [make_bus(database_url, clock) for _ in range(2)]
    for bus in made:
        bus.wiring.connect(STYLE, ReminderDue, remember, "tests")
    yield made
    for bus in made:
        bus.close()
        bus.db.dispose()


def schedule(bus: MessageBus, *, in_: str = "P7D", note: str = "", commit: bool = True) -> None:
    with bus.unit_of_work(style=STYLE, module="tests") as uow:
        uow.schedule(ReminderDue(order_id="o1", note=note),
                     at=bus.clock.now() + _duration(in_), name="reminder")
        if commit:
            uow.commit()


def _duration(text: str) -> timedelta:
    return parse_duration(text)


def reminders(bus: MessageBus) -> list[str]:
    with bus.db.reading() as session:
        return list(session.execute(select(effects.c.note)
                                    .where(effects.c.receiver == "reminder")).scalars())


def logged(bus: MessageBus) -> int:
    with bus.db.reading() as session:
        return session.execute(select(func.count()).select_from(MessageRecord)
                               .where(MessageRecord.type.endswith("ReminderDue"))).scalar_one()


def test_a_deadline_does_nothing_before_it_is_due(buses: list[MessageBus],
                                                  clock: ManualClock) -> None:
    bus = buses[0]
    schedule(bus)
    clock.advance("P6DT23H")
    bus.settle()
    assert reminders(bus) == []


def test_a_due_deadline_publishes_its_message_once(buses: list[MessageBus],
                                                   clock: ManualClock) -> None:
    bus = buses[0]
    schedule(bus, note="pay up")
    clock.advance("P7D")
    bus.settle()
    bus.settle()
    assert reminders(bus) == ["pay up"] and logged(bus) == 1


def test_two_processes_racing_fire_a_deadline_once(buses: list[MessageBus],
                                                   clock: ManualClock) -> None:
    for number in range(20):
        schedule(buses[0], note=str(number))
    clock.advance("P8D")
    with ThreadPoolExecutor(2) as pool:
        fired = sum(pool.map(lambda bus: bus.fire_due_deadlines(batch=3), buses))
    for bus in buses:
        bus.settle()
    assert fired == 20
    assert sorted(reminders(buses[0]), key=int) == [str(n) for n in range(20)]
    assert logged(buses[0]) == 20


def test_a_cancelled_deadline_never_fires(buses: list[MessageBus], clock: ManualClock) -> None:
    bus = buses[0]
    schedule(bus)
    with bus.unit_of_work(style=STYLE, module="tests") as uow:
        assert uow.cancel_deadlines("o1", "reminder") == 1
        uow.commit()
    clock.advance("P8D")
    bus.settle()
    assert reminders(bus) == [] and logged(bus) == 0


def test_a_rolled_back_change_schedules_nothing(buses: list[MessageBus],
                                                clock: ManualClock) -> None:
    bus = buses[0]
    schedule(bus, commit=False)
    clock.advance("P8D")
    bus.settle()
    with bus.db.reading() as session:
        assert session.execute(select(func.count()).select_from(DeadlineRecord)).scalar_one() == 0


def test_a_deadline_that_fell_due_while_down_fires_at_the_next_start(
        database_url: str, clock: ManualClock) -> None:
    first = make_bus(database_url, clock)
    first.wiring.connect(STYLE, ReminderDue, remember, "tests")
    schedule(first, note="while you were out")
    first.close()
    clock.advance("P30D")  # the app is down for a month

    second = make_bus(database_url, clock)
    second.wiring.connect(STYLE, ReminderDue, remember, "tests")
    second.settle()  # what Runtime.start does in inline mode; the tick does it in background
    assert reminders(second) == ["while you were out"]
    with second.db.reading() as session:
        assert [d["status"] for d in deadlines.of_flow(session, "o1")] == ["fired"]
    second.close()


def test_the_shared_manual_clock_moves_every_process(buses: list[MessageBus]) -> None:
    one, other = (SharedManualClock(bus.db) for bus in buses)
    before = other.now()
    one.advance("P7D")
    assert (other.now() - before).days == 7  # at once, not at the other's next tick
    with pytest.raises(ValueError, match="forward"):
        one.advance(-_duration("PT1S"))
    with pytest.raises(ValueError, match="P3660D"):  # a step at a time, never past 9000
        one.advance(timedelta(days=3_000_000))
    assert (other.now() - before).days == 7


def test_the_shared_manual_clock_survives_a_restart(database_url: str,
                                                    buses: list[MessageBus]) -> None:
    SharedManualClock(buses[0].db).advance("P3D")
    restarted = Database(make_engine(database_url))
    ahead = SharedManualClock(restarted).now() - datetime.now(UTC)
    restarted.dispose()
    assert timedelta(days=3) - timedelta(minutes=1) < ahead <= timedelta(days=3)


def test_a_restarted_app_in_background_mode_fires_what_fell_due_while_down(
        make_app: Callable[..., Flask], clock: ManualClock) -> None:
    first = make_app()
    placed = first.test_client().post("/api/orders", json={
        "customer": {"id": "c-1", "name": "Ada", "address": "1 Main Street"},
        "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_clarify"}})
    order_id = placed.get_json()["id"]
    first.extensions["orderflow"].close()
    clock.advance("P8D")  # the shop was down for eight days

    second = make_app(dispatch="background", seed=False)
    second.extensions["orderflow"].start()  # what gunicorn's post_worker_init does

    client = second.test_client()
    wait_for(lambda: client.get(f"/api/orders/{order_id}").get_json()["status"] == "cancelled",
             what="the price hold fires after start")
    assert client.get(f"/api/orders/{order_id}").get_json()["reason"] == "price_hold_expired"


def test_a_deadline_that_cannot_fire_is_set_aside_and_blocks_nothing(
        buses: list[MessageBus], clock: ManualClock) -> None:
    bus = buses[0]
    schedule(bus, in_="P1D", note="broken")
    schedule(bus, in_="P2D", note="fine")
    with bus.db.session() as session:  # the oldest one names a message type that is gone
        session.execute(update(DeadlineRecord).where(DeadlineRecord.due_at
                                                     == select(func.min(DeadlineRecord.due_at))
                                                     .scalar_subquery())
                        .values(type="orderflow.tests.NoLongerExists"))
        session.commit()
    clock.advance("P3D")

    bus.tick()

    assert reminders(bus) == ["fine"]
    policy = bus.retry_policy
    waits = []
    for attempt in range(1, policy.max_attempts):  # tried again after the bus's backoff
        broken = broken_deadline(bus)
        assert (broken["status"], broken["attempts"]) == ("pending", attempt)
        assert "NoLongerExists" in broken["last_error"]
        waits.append(broken["due_at"] - clock.now())
        clock.advance(waits[-1] - timedelta(milliseconds=1))
        bus.tick()
        assert broken_deadline(bus)["attempts"] == attempt, "tried before its backoff was over"
        clock.advance(timedelta(milliseconds=1))
        bus.tick()
    assert waits == [policy.delay(attempt) for attempt in range(1, policy.max_attempts)]
    broken = broken_deadline(bus)
    assert (broken["status"], broken["attempts"]) == ("failed", policy.max_attempts)
    clock.advance("P30D")
    bus.tick()
    assert broken_deadline(bus)["status"] == "failed", "set aside until an operator acts"
    assert reminders(bus) == ["fine"]


def broken_deadline(bus: MessageBus) -> dict:
    with bus.db.reading() as session:
        return next(d for d in deadlines.of_flow(session, "o1") if d["status"] != "fired")


def test_a_deadline_whose_firing_failed_fires_on_a_later_try(buses: list[MessageBus],
                                                              clock: ManualClock) -> None:
    bus = buses[0]
    schedule(bus, in_="P1D", note="late")
    with bus.db.session() as session:  # the message type is briefly gone (a deploy, say)
        session.execute(update(DeadlineRecord).values(type="orderflow.tests.NotYetBack"))
        session.commit()
    clock.advance("P1D")
    bus.tick()
    assert reminders(bus) == []
    with bus.db.session() as session:
        session.execute(update(DeadlineRecord).values(type=ReminderDue.type_name()))
        session.commit()
    clock.advance(bus.retry_policy.delay(1))
    bus.tick()
    assert reminders(bus) == ["late"]
    with bus.db.reading() as session:
        (fired,) = deadlines.of_flow(session, "o1")
    assert (fired["status"], fired["attempts"]) == ("fired", 1)


def test_concurrent_moves_of_the_shared_clock_add_up(buses: list[MessageBus]) -> None:
    clocks = [SharedManualClock(bus.db) for bus in buses]
    start = clocks[0].now()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda clock: [clock.advance("PT1H") for _ in range(10)], clocks))
    clocks[0].refresh()
    moved = clocks[0].now() - start
    assert timedelta(hours=20) <= moved < timedelta(hours=20, minutes=1)


def test_an_order_whose_deadline_cannot_fire_says_it_is_stuck(make_app: Callable[..., Flask],
                                                              clock: ManualClock) -> None:
    app = make_app()
    client = app.test_client()
    order_id = client.post("/api/orders", json={
        "customer": {"id": "c-1", "name": "Ada", "address": "1 Main Street"},
        "items": [{"sku": "sku-1", "quantity": 1}],
        "payment": {"token": "tok_clarify"}}).get_json()["id"]
    with app.extensions["orderflow"].bus.db.session() as session:
        readable = session.execute(select(DeadlineRecord.data)).scalar_one()
        session.execute(update(DeadlineRecord).values(data='{"order_id": 42}'))  # unreadable
        session.commit()
    clock.advance("P8D")
    runtime = app.extensions["orderflow"]
    for attempt in range(1, runtime.bus.retry_policy.max_attempts + 1):  # each after backoff
        runtime.tick()
        (hold,) = client.get(f"/api/orders/{order_id}").get_json()["deadlines"]
        assert hold["attempts"] == attempt and "order_id" in hold["last_error"]
        clock.advance("P1D")

    view = client.get(f"/api/orders/{order_id}").get_json()
    assert view["status"] == "payment_clarification"
    assert view["stuck"]["failed_deadlines"] == ["price_hold"]
    assert "price_hold deadline could not fire" in view["stuck"]["why"]
    assert view["deadlines"][0]["status"] == "failed"
    assert failed_deadlines_gauge(app) == 1

    with runtime.bus.db.session() as session:  # the operator mends what broke it, fires it again
        session.execute(update(DeadlineRecord).values(data=readable))
        session.commit()
    fire = f"/api/orders/{order_id}/deadlines/price_hold/fire"
    answer = client.post(fire, headers=ADMIN_HEADERS)
    assert answer.status_code == 202 and answer.get_json()["status"] == "fired"
    view = client.get(f"/api/orders/{order_id}").get_json()
    assert (view["status"], view["reason"], view["stuck"]) == \
        ("cancelled", "price_hold_expired", None)
    assert failed_deadlines_gauge(app) == 0
    again = client.post(fire, headers=ADMIN_HEADERS)
    assert again.status_code == 409 and again.get_json()["code"] == "deadline_not_failed"
    assert client.post(fire).status_code in (401, 403), "an operator's lever"


def failed_deadlines_gauge(app: Flask) -> float:
    text = app.test_client().get("/metrics", headers=ADMIN_HEADERS).get_data(as_text=True)
    (line,) = [line for line in text.splitlines() if line.startswith("orderflow_deadlines_failed ")]
    return float(line.split()[1])
