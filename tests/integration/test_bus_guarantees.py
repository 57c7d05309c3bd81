"""Each delivery guarantee of DESIGN section 4 has a test here that would fail without it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import ClassVar

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from app.bus import Command, Event, MessageBus, UnitOfWork, WiringError, outbox
from app.bus.dispatcher import LOOK_EVERY, Dispatcher
from app.bus.log import DeliveryRecord, MessageRecord
from app.clock import ManualClock, as_utc
from app.config import Settings
from app.db import Database, make_engine
from app.modules.registry import load_models
from tests.conftest import on_every_database, wait_for

pytestmark = on_every_database
STYLE = "choreography"
effects = Table("test_effect", MetaData(), Column("id", Integer, primary_key=True),
                Column("receiver", String), Column("note", String))


class Pinged(Event):
    note: str = ""


class Ponged(Event):
    note: str = ""


class RingBell(Command):
    pass


class Laned(Event):
    """Its deliveries keep an order per ``lane`` (one per webhook subscription, say)."""

    lane_field: ClassVar[str | None] = "lane_name"
    lane_name: str
    note: str = ""


def make_bus(url: str, clock: ManualClock, **settings) -> MessageBus:  # type: ignore[no-untyped-def]
    settings.setdefault("dispatch", "inline")
    db = Database(make_engine(url))
    load_models()
    SQLModel.metadata.create_all(db.engine)
    effects.create(db.engine, checkfirst=True)
    return MessageBus(db, Settings(database_url=url, **settings), clock)


def recorder(name: str):  # type: ignore[no-untyped-def]
    """A receiver whose effect is a row, committed with the message's processed record."""
    def receiver(msg: Pinged, uow: UnitOfWork) -> None:
        with uow:
            uow.session.execute(insert(effects).values(receiver=name, note=msg.note))
            uow.commit()
    receiver.__name__ = f"record_{name}"
    return receiver


def failing(times: int, name: str = "flaky"):  # type: ignore[no-untyped-def]
    """Raises the first ``times`` calls, then records its effect."""
    calls = {"n": 0}
    record = recorder(name)

    def receiver(msg: Pinged, uow: UnitOfWork) -> None:
        calls["n"] += 1
        if calls["n"] <= times:
            raise RuntimeError(f"{name} failure {calls['n']}")
        record(msg, uow)
    receiver.__name__ = f"fail_{name}"
    return receiver


@pytest.fixture
def url(database_url: str) -> str:
    return database_url


@pytest.fixture
def bus(url: str, clock: ManualClock) -> Iterator[MessageBus]:
    bus = make_bus(url, clock, retry_base=timedelta(seconds=1), retry_factor=2.0,
                   retry_max_attempts=4)
    yield bus
    bus.close()


def publish(bus: MessageBus, *messages: Event | Command) -> None:
    with bus.unit_of_work(style=STYLE, module="test") as uow:
        for message in messages:
            uow.publish(message)
        uow.commit()


def effect_rows(bus: MessageBus) -> list[tuple[str, str]]:
    with bus.db.reading() as session:
        return [tuple(row) for row in session.execute(
            select(effects.c.receiver, effects.c.note).order_by(effects.c.id))]


def deliveries(bus: MessageBus) -> list[DeliveryRecord]:
    with bus.db.reading() as session:
        return list(session.exec(select(DeliveryRecord).order_by(DeliveryRecord.id)).scalars())


def count(bus: MessageBus, table) -> int:  # type: ignore[no-untyped-def]
    with bus.db.reading() as session:
        return session.execute(select(func.count()).select_from(table)).scalar_one()


# 1. Transactional outbox ---------------------------------------------------------------------
def test_a_rollback_publishes_nothing(bus: MessageBus) -> None:
    bus.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    with pytest.raises(RuntimeError), bus.unit_of_work(style=STYLE) as uow:
        uow.publish(Pinged(order_id="o1", note="never"))
        raise RuntimeError("the use case failed after publishing")
    bus.settle()
    assert count(bus, MessageRecord.__table__) == 0
    assert count(bus, DeliveryRecord.__table__) == 0
    assert effect_rows(bus) == []


def test_a_state_change_and_its_message_commit_together(bus: MessageBus) -> None:
    bus.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    with bus.unit_of_work(style=STYLE) as uow:
        uow.session.execute(insert(effects).values(receiver="use case", note="state"))
        uow.publish(Pinged(order_id="o1", note="announced"))
        uow.commit()
    assert effect_rows(bus) == [("use case", "state"), ("a", "announced")]


def test_a_message_committed_but_never_dispatched_is_delivered_after_restart(
        url: str, clock: ManualClock) -> None:
    crashed = make_bus(url, clock, dispatch="background")  # its dispatcher never started
    crashed.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    publish(crashed, Pinged(order_id="o1", note="survives"))
    crashed.close()  # the process dies before any delivery

    restarted = make_bus(url, clock)
    restarted.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    assert restarted.settle() == 1
    assert effect_rows(restarted) == [("a", "survives")]
    restarted.close()


# 3. Per-receiver bookkeeping ------------------------------------------------------------------
def test_one_raising_receiver_does_not_stop_the_others(bus: MessageBus) -> None:
    bus.wiring.connect(STYLE, Pinged, failing(times=99, name="broken"), "alpha")
    bus.wiring.connect(STYLE, Pinged, recorder("b"), "beta")
    publish(bus, Pinged(order_id="o1", note="hello"))
    assert effect_rows(bus) == [("b", "hello")]
    states = {d.receiver: (d.status, d.attempts) for d in deliveries(bus)}
    assert states == {"alpha.fail_broken": ("failed", 1), "beta.record_b": ("done", 1)}
    broken = next(d for d in deliveries(bus) if d.module == "alpha")
    assert "broken failure 1" in broken.last_error


# 4. Effectively once ---------------------------------------------------------------------------
def test_a_redelivered_message_has_no_second_effect(bus: MessageBus) -> None:
    bus.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    publish(bus, Pinged(order_id="o1", note="once"))
    with bus.db.session() as session:  # the acknowledgement is lost: deliver it again
        session.execute(update(DeliveryRecord.__table__).values(status="pending"))
        session.commit()
    assert bus.settle() == 1
    assert effect_rows(bus) == [("a", "once")]
    assert [d.status for d in deliveries(bus)] == ["done"]


def test_a_receiver_racing_another_for_the_same_message_loses_cleanly(
        url: str, clock: ManualClock) -> None:
    """Two workers ran the same delivery (a lease expired mid-way): the second commit fails on
    the processed record and its effect is rolled back."""
    bus = make_bus(url, clock, dispatch="background")  # not started: nothing claims at publish
    bus.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    publish(bus, Pinged(order_id="o1", note="contested"))
    claim = bus.dispatcher._claim(10)[0]
    bus.dispatcher._deliver(claim)
    bus.dispatcher._deliver(claim)  # the same claim again, as a second worker would
    assert effect_rows(bus) == [("a", "contested")]
    assert [(d.status, d.attempts) for d in deliveries(bus)] == [("done", 1)]
    bus.close()


# 5. Retries and parking ------------------------------------------------------------------------
def test_failures_are_retried_with_exponential_backoff_then_parked(
        bus: MessageBus, clock: ManualClock) -> None:
    bus.wiring.connect(STYLE, Pinged, failing(times=99), "alpha")
    publish(bus, Pinged(order_id="o1"))
    waits = []
    for _ in range(3):
        delivery = deliveries(bus)[0]
        wait = as_utc(delivery.next_attempt_at) - clock.now()
        waits.append(wait.total_seconds())
        clock.advance(wait - timedelta(milliseconds=1))
        assert bus.settle() == 0, "retried before its backoff was over"
        clock.advance(timedelta(milliseconds=1))
        assert bus.settle() == 1
    assert waits == [1.0, 2.0, 4.0]
    parked = deliveries(bus)[0]
    assert (parked.status, parked.attempts) == ("parked", 4)
    assert "flaky failure 4" in parked.last_error
    clock.advance("P30D")
    assert bus.settle() == 0, "a parked delivery waits for an operator"


def test_a_transient_failure_then_success_is_done(bus: MessageBus, clock: ManualClock) -> None:
    bus.wiring.connect(STYLE, Pinged, failing(times=2), "alpha")
    publish(bus, Pinged(order_id="o1", note="eventually"))
    clock.advance("PT1S")
    bus.settle()
    clock.advance("PT2S")
    bus.settle()
    assert effect_rows(bus) == [("flaky", "eventually")]
    assert [(d.status, d.attempts) for d in deliveries(bus)] == [("done", 3)]


# 6. Order per flow -----------------------------------------------------------------------------
def test_a_module_sees_one_flows_messages_in_publication_order(
        bus: MessageBus, clock: ManualClock) -> None:
    bus.wiring.connect(STYLE, Pinged, failing(times=1, name="first"), "alpha")
    bus.wiring.connect(STYLE, Ponged, recorder("second"), "alpha")
    publish(bus, Pinged(order_id="o1", note="1"))
    publish(bus, Ponged(order_id="o1", note="2"), Ponged(order_id="o2", note="other flow"))
    assert effect_rows(bus) == [("second", "other flow")], "o1's second message overtook"
    clock.advance("PT1S")
    bus.settle()
    assert effect_rows(bus) == [("second", "other flow"), ("first", "1"), ("second", "2")]


def test_a_lane_keeps_its_own_order_and_holds_back_no_other_lane(
        bus: MessageBus, clock: ManualClock) -> None:
    bus.wiring.connect(STYLE, Laned, failing(times=1, name="laned"), "alpha")
    publish(bus, Laned(order_id="o1", lane_name="a", note="a1"))
    publish(bus, Laned(order_id="o1", lane_name="b", note="b1"),
            Laned(order_id="o1", lane_name="a", note="a2"))
    assert effect_rows(bus) == [("laned", "b1")], "lane b waits for nobody; a2 waits for a1"
    clock.advance("PT1S")
    bus.settle()
    assert effect_rows(bus) == [("laned", "b1"), ("laned", "a1"), ("laned", "a2")]


# 7. Claims and leases --------------------------------------------------------------------------
def test_a_claim_held_by_a_dead_worker_is_taken_over_when_its_lease_expires(
        bus: MessageBus, clock: ManualClock) -> None:
    bus.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    with bus.unit_of_work(style=STYLE, module="test") as uow:
        uow.publish(Pinged(order_id="o1", note="orphaned"))
        uow.session.commit()  # claimed at publication by this worker, which then "dies"
    bus.dispatcher._queue().clear()
    dead = Dispatcher(bus, mode="inline")
    assert dead._claim(10) == [], "claimed by a live lease"
    assert bus.settle() == 0, "claimed by a live lease"
    clock.advance(bus.settings.lease + timedelta(seconds=1))
    assert bus.settle() == 1
    assert effect_rows(bus) == [("a", "orphaned")]


class ProcessDied(BaseException):
    """Stands for os._exit inside a receiver: nothing after it runs, no bookkeeping is written
    (tests/e2e/test_poison.py does it for real, in a gunicorn worker)."""


def dies_every_time(runs: list[str]):  # type: ignore[no-untyped-def]
    def receiver(msg: Pinged, uow: UnitOfWork) -> None:
        with uow:
            runs.append(msg.note)
            raise ProcessDied
    receiver.__name__ = "die"
    return receiver


def next_process(bus: MessageBus, clock: ManualClock) -> None:
    """The process holding the claims is gone: a new one, once their leases have run out."""
    bus.dispatcher = Dispatcher(bus, mode="inline")
    clock.advance(bus.settings.lease + timedelta(seconds=1))


def test_a_receiver_that_kills_its_process_is_parked_after_the_maximum_attempts(
        bus: MessageBus, clock: ManualClock) -> None:
    runs: list[str] = []
    bus.wiring.connect(STYLE, Pinged, dies_every_time(runs), "alpha")
    bus.wiring.connect(STYLE, Pinged, recorder("b"), "beta")
    with pytest.raises(ProcessDied):
        publish(bus, Pinged(order_id="o1", note="poison"))  # run at once, from memory: uncounted
    for attempt in range(1, bus.settings.retry_max_attempts + 1):
        next_process(bus, clock)
        with pytest.raises(ProcessDied):
            bus.settle()
        assert deliveries(bus)[0].attempts == attempt, "counted and committed before the run"
    next_process(bus, clock)
    bus.settle()
    dead = deliveries(bus)[0]
    assert (dead.status, dead.attempts) == ("parked", bus.settings.retry_max_attempts)
    assert "died" in dead.last_error
    assert len(runs) == bus.settings.retry_max_attempts + 1
    assert effect_rows(bus) == [("b", "poison")], "the other receiver is not held back"
    clock.advance("P30D")
    assert bus.settle() == 0 and len(runs) == bus.settings.retry_max_attempts + 1


def test_claims_whose_holder_died_before_running_them_are_not_counted(
        bus: MessageBus, clock: ManualClock) -> None:
    bus.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    with bus.unit_of_work(style=STYLE, module="test") as uow:
        uow.publish(Pinged(order_id="o1", note="queued"))
        uow.session.commit()  # claimed at publication, queued in memory; the process dies
    for _ in range(bus.settings.retry_max_attempts * 2):  # claimed from the database, never run
        next_process(bus, clock)
        assert len(bus.dispatcher._claim(10)) == 1
    next_process(bus, clock)
    assert bus.settle() == 1
    assert [(d.status, d.attempts) for d in deliveries(bus)] == [("done", 1)]
    assert effect_rows(bus) == [("a", "queued")]


def test_a_taken_over_attempt_that_fails_is_counted_once(bus: MessageBus,
                                                          clock: ManualClock) -> None:
    bus.wiring.connect(STYLE, Pinged, failing(times=1), "alpha")
    with bus.unit_of_work(style=STYLE, module="test") as uow:
        uow.publish(Pinged(order_id="o1", note="late"))
        uow.session.commit()
    next_process(bus, clock)
    assert bus.settle() == 1
    assert [(d.status, d.attempts) for d in deliveries(bus)] == [("failed", 1)]
    clock.advance("PT1S")
    assert bus.settle() == 1
    assert [(d.status, d.attempts) for d in deliveries(bus)] == [("done", 2)]


def test_concurrent_dispatchers_deliver_every_message_exactly_once(url: str) -> None:
    clock = ManualClock()
    buses = [make_bus(url, clock, dispatch="background") for _ in range(2)]
    for bus in buses:
        bus.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    for number in range(150):
        publish(buses[0], Pinged(order_id=f"o{number % 10}", note=str(number)))
    workers = [threading.Thread(target=bus.settle) for bus in buses for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    notes = sorted(int(note) for _, note in effect_rows(buses[0]))
    assert notes == list(range(150))
    for bus in buses:
        bus.close()


# 8. Dispatch modes -----------------------------------------------------------------------------
def test_background_dispatch_delivers_after_commit_without_blocking_the_caller(
        url: str, clock: ManualClock) -> None:
    bus = make_bus(url, clock, dispatch="background")
    gate = threading.Event()

    def slow(msg: Pinged, uow: UnitOfWork) -> None:
        gate.wait(10)
        recorder("slow")(msg, uow)

    bus.wiring.connect(STYLE, Pinged, slow, "alpha")
    bus.dispatcher.start()
    publish(bus, Pinged(order_id="o1", note="later"))
    assert effect_rows(bus) == []  # the publisher did not wait for the receiver
    gate.set()
    wait_for(lambda: effect_rows(bus) == [("slow", "later")])
    bus.close()


# 2. Wiring rules -------------------------------------------------------------------------------
def test_a_command_sent_with_no_receiver_fails_at_start_up(bus: MessageBus) -> None:
    bus.wiring.declare_sends(STYLE, "alpha", [RingBell])
    with pytest.raises(WiringError, match="RingBell, which has 0 receivers"):
        bus.wiring.validate()


def test_a_command_with_two_receivers_fails_at_start_up(bus: MessageBus) -> None:
    bus.wiring.connect(STYLE, RingBell, recorder("a"), "alpha")
    bus.wiring.connect(STYLE, RingBell, recorder("b"), "beta")
    with pytest.raises(WiringError, match="has 2 receivers"):
        bus.wiring.validate()


def test_publishing_a_command_nobody_handles_is_refused(bus: MessageBus) -> None:
    with pytest.raises(WiringError), bus.unit_of_work(style=STYLE) as uow:
        uow.publish(RingBell(order_id="o1"))
    assert count(bus, MessageRecord.__table__) == 0


def test_receivers_are_disconnected_when_the_bus_closes(url: str, clock: ManualClock) -> None:
    bus = make_bus(url, clock)
    bus.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    bus.close()
    assert bus.wiring.receivers(STYLE, Pinged.type_name()) == []


# Hazards found in review: each of these failed before the fix it names -------------------------
def statuses(bus: MessageBus) -> list[tuple[str, str, int]]:
    return [(d.receiver, d.status, d.attempts) for d in deliveries(bus)]


def test_a_receiver_that_raises_after_committing_stays_done(
        bus: MessageBus, clock: ManualClock) -> None:
    """Its effect is committed; a late error must not turn 'done' into 'failed' or 'parked'
    (which would also hold back the flow's later messages for that module)."""
    def commits_then_raises(msg: Pinged, uow: UnitOfWork) -> None:
        recorder("a")(msg, uow)
        raise RuntimeError("raised after commit, e.g. while logging")

    bus.wiring.connect(STYLE, Pinged, commits_then_raises, "alpha")
    bus.wiring.connect(STYLE, Ponged, recorder("later"), "alpha")
    publish(bus, Pinged(order_id="o1", note="1"))
    publish(bus, Ponged(order_id="o1", note="2"))
    assert [status for _, status, _ in statuses(bus)] == ["done", "done"]
    assert effect_rows(bus) == [("a", "1"), ("later", "2")]


def test_a_late_failure_from_a_worker_whose_lease_expired_changes_nothing(
        url: str, clock: ManualClock) -> None:
    slow, fast = (make_bus(url, clock, dispatch="background", retry_max_attempts=1)
                  for _ in range(2))
    for bus in (slow, fast):
        bus.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    publish(slow, Pinged(order_id="o1", note="1"))
    [claim] = slow.dispatcher._claim(10)
    clock.advance(slow.settings.lease + timedelta(seconds=1))  # the slow worker overruns
    assert fast.settle() == 1                                  # another takes over and succeeds
    slow.dispatcher._fail(claim, TimeoutError("provider timed out"))  # the slow one gives up
    assert statuses(fast) == [("alpha.record_a", "done", 1)]
    for bus in (slow, fast):
        bus.close()


def test_a_database_hiccup_while_looking_for_work_keeps_the_queued_claims(
        url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    bus = make_bus(url, clock, dispatch="background")
    bus.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    publish(bus, Pinged(order_id="o1", note="1"))
    dispatcher = bus.dispatcher
    dispatcher.notify(dispatcher._claim(10))  # queued in memory, as after a commit
    dispatcher._passes = LOOK_EVERY - 1  # this pass also looks at the database

    def database_away(limit: int) -> list:  # type: ignore[type-arg]
        raise OperationalError("SELECT", {}, Exception("database is locked"))
    monkeypatch.setattr(dispatcher, "_claim", database_away)
    with pytest.raises(OperationalError):
        dispatcher.run_once()
    monkeypatch.undo()

    assert dispatcher.run_once(from_database=False) == 1
    assert effect_rows(bus) == [("a", "1")]
    bus.close()


def test_a_queued_claim_taken_over_elsewhere_is_not_run_again(
        url: str, clock: ManualClock) -> None:
    """A backlog longer than the lease: another process takes the delivery over; when this
    one finally reaches its queue, the receiver's unit of work refuses to start."""
    busy, other = (make_bus(url, clock, dispatch="background") for _ in range(2))
    calls: list[str] = []

    def charge(msg: Pinged, uow: UnitOfWork) -> None:
        with uow:
            calls.append(msg.note)  # stands for a call to the payment provider
            uow.session.execute(insert(effects).values(receiver="charge", note=msg.note))
            uow.commit()

    for bus in (busy, other):
        bus.wiring.connect(STYLE, Pinged, charge, "alpha")
    busy.dispatcher._threads = [threading.current_thread()]  # as if its threads were running
    publish(busy, Pinged(order_id="o1", note="x"))           # claimed and queued in memory
    busy.dispatcher._threads = []
    clock.advance(busy.settings.lease + timedelta(seconds=1))
    assert other.settle() == 1
    busy.dispatcher.run_once(from_database=False)
    assert calls == ["x"]
    assert effect_rows(busy) == [("charge", "x")]
    for bus in (busy, other):
        bus.close()


def test_a_long_host_name_still_fits_the_claim(
        url: str, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "gethostname",
                        lambda: "orderflow-web-statefulset-0.orderflow.production.svc.cluster")
    bus = make_bus(url, clock)
    bus.wiring.connect(STYLE, Pinged, recorder("a"), "alpha")
    publish(bus, Pinged(order_id="o1", note="x"))
    assert effect_rows(bus) == [("a", "x")]
    bus.close()


def test_trouble_writing_down_a_failure_never_reaches_the_publisher(
        bus: MessageBus, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The database refuses the failure record (busy, gone): the publisher's commit already
    succeeded and must not raise, and the batch's other deliveries still run."""
    def database_gone(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("UPDATE bus_delivery", {}, Exception("database is locked"))

    monkeypatch.setattr(outbox, "record_failure", database_gone)
    bus.wiring.connect(STYLE, Pinged, failing(times=99), "alpha")
    bus.wiring.connect(STYLE, Pinged, recorder("b"), "beta")
    publish(bus, Pinged(order_id="o1", note="x"))  # does not raise
    assert effect_rows(bus) == [("b", "x")]
    monkeypatch.undo()
    clock.advance(bus.settings.lease + timedelta(seconds=1))  # the failed one's lease runs out
    bus.settle()
    assert statuses(bus)[0][:2] == ("alpha.fail_flaky", "failed")


def test_due_retries_are_not_starved_by_a_steady_stream_of_new_work(
        url: str, clock: ManualClock) -> None:
    bus = make_bus(url, clock, dispatch="background")
    bus.wiring.connect(STYLE, Pinged, failing(times=1), "alpha")
    bus.wiring.connect(STYLE, Ponged, recorder("load"), "beta")
    bus.dispatcher._threads = [threading.current_thread()]  # claim at publication, as running
    publish(bus, Pinged(order_id="o1", note="retry me"))
    bus.dispatcher.run_once()  # the first attempt fails; the retry is due in a second
    clock.advance("PT10S")
    for number in range(20):  # a new order arrives before every pass
        publish(bus, Ponged(order_id=f"load{number}", note=str(number)))
        bus.dispatcher.run_once()
    bus.dispatcher._threads = []
    assert ("flaky", "retry me") in effect_rows(bus)
    bus.close()


def test_a_receiver_that_forgets_to_commit_fails_visibly(bus: MessageBus) -> None:
    def forgets(msg: Pinged, uow: UnitOfWork) -> None:
        with uow:
            uow.publish(Ponged(order_id=msg.order_id, note="follow-up"))

    bus.wiring.connect(STYLE, Pinged, forgets, "alpha")
    bus.wiring.connect(STYLE, Ponged, recorder("next"), "beta")
    publish(bus, Pinged(order_id="o1"))
    [(_, status, attempts)] = statuses(bus)
    assert (status, attempts) == ("failed", 1)
    assert "without committing" in deliveries(bus)[0].last_error


def test_a_flows_messages_are_logged_in_the_order_they_commit(
        url: str, clock: ManualClock) -> None:
    """On PostgreSQL a sequence value is taken before commit: a second publisher of the same
    flow must wait for the first, or the log's order would not be the commit order. (SQLite
    lets one writer in at a time, so there the question does not arise.)"""
    if not url.startswith("postgresql"):
        pytest.skip("SQLite serializes writers")
    bus = make_bus(url, clock)
    bus.wiring.connect(STYLE, Pinged, recorder("ping"), "alpha")
    bus.wiring.connect(STYLE, Ponged, recorder("pong"), "alpha")
    first = bus.unit_of_work(style=STYLE, module="test").__enter__()
    first.publish(Pinged(order_id="o1", note="first"))
    second = threading.Thread(target=publish, args=(bus, Ponged(order_id="o1", note="second")))
    second.start()
    wait_for(lambda: waiting_for_a_flow_lock(bus), what="the second publisher waiting")
    first.commit()
    first.__exit__(None, None, None)
    second.join(timeout=30)
    bus.settle()
    assert effect_rows(bus) == [("ping", "first"), ("pong", "second")]
    bus.close()


def waiting_for_a_flow_lock(bus: MessageBus) -> bool:
    with bus.db.reading() as session:
        return bool(session.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )).scalar())
