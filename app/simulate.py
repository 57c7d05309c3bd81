"""``orderflow simulate``: many orders through the real bus, with faults drawn from a named
profile, on a manual clock; then what became of them, and whether stock and money add up.

The harness plays everybody outside the shop, through the HTTP API of an app with inline
dispatch on a throw-away SQLite file: the customers (an order about once a minute, each with at
most one fault drawn from the profile), the call centre (answers a clarification after a random
delay; an answer after the price hold is refused), the operator (retries a parked payment after
a random delay, or never) and VIP customers (pay their invoice after a random delay, or never).
Time moves only when the harness moves it: to the next thing someone outside does, or to the
next retry or deadline the bus waits for, whichever comes first, so every retry and deadline
happens at its own simulated moment. Knowing what each order drew and when people acted, the
harness knows how each order must end, and checks that it did."""

from __future__ import annotations

import heapq
import itertools
import math
import random
import secrets
import sys
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from app.bus import flows
from app.bus.log import PENDING_DEADLINE, WAITING, DeadlineRecord, DeliveryRecord, MessageRecord
from app.clock import ManualClock, as_utc
from app.config import FLOWS, STYLES, ConfigError, Settings, from_environment
from app.demo import quiet_dispatcher
from app.http.formats import money, span
from app.modules.inventory.demo import load_demo_catalogue
from app.modules.inventory.models import FETCHED, Item, Pick
from app.modules.orders.models import CANCELLED, DELIVERED, PLACED, TERMINAL, Order
from app.modules.payment.models import OPEN, OVERDUE, PAID, RECEIVED, Invoice, Payment, Refund
from app.modules.payment.provider import FLAKY_FAILURES

Echo = Callable[[str], None]
Client = Any  # flask.testing.FlaskClient

# --- profiles: what can go wrong, and how often ---------------------------------------------------
ORDINARY = "ordinary"
CASES = {  # what an order can draw besides ordinary, and how the summary names it
    "declined": "declined",
    "clarified": "clarification",
    "flaky": "flaky provider",
    "outage": "provider outage",
    "out_of_stock": "out of stock",
    "undeliverable": "undeliverable",
    "vip": "VIP",
}


@dataclass(frozen=True)
class Profile:
    """Shares of orders per case (the rest are ordinary), and how people outside answer.
    Delays are averages of an exponential distribution."""

    name: str
    shares: dict[str, float] = field(default_factory=dict)
    approved: float = 0.75  # clarifications the call centre approves
    answer_after: timedelta = timedelta(days=1)
    retried: float = 0.9  # parked payments an operator retries
    retry_after: timedelta = timedelta(hours=4)
    paid: float = 0.9  # VIP invoices that get paid
    pay_after: timedelta = timedelta(days=14)

    def describe(self) -> str:
        ordinary = 1 - sum(self.shares.values())
        faults = [f"{CASES[case]} {share:.0%}{self._how(case)}"
                  for case, share in self.shares.items() if share]
        return "; ".join([f"{ordinary:.0%} ordinary", ", ".join(faults) or "no faults"])

    def _how(self, case: str) -> str:
        if case == "clarified":
            return f" ({self.approved:.0%} approved, answered after ~{span(self.answer_after)})"
        if case == "outage":
            return f" ({self.retried:.0%} retried by an operator after ~{span(self.retry_after)})"
        if case == "vip":
            return f" ({self.paid:.0%} pay their invoice after ~{span(self.pay_after)})"
        return ""


PROFILES = {profile.name: profile for profile in (
    Profile("happy"),
    Profile("realistic", {"declined": 0.03, "clarified": 0.04, "flaky": 0.03, "outage": 0.01,
                          "out_of_stock": 0.02, "undeliverable": 0.02, "vip": 0.03}),
    Profile("stormy", {"declined": 0.10, "clarified": 0.15, "flaky": 0.10, "outage": 0.05,
                       "out_of_stock": 0.08, "undeliverable": 0.05, "vip": 0.07},
            approved=0.5, answer_after=timedelta(days=3), retried=0.5,
            retry_after=timedelta(days=2), paid=0.6, pay_after=timedelta(days=20)),
)}
DEFAULT_PROFILE = "realistic"


def profiles_help() -> str:
    """The profiles for ``--help``, wrapped here: ``\\b`` keeps click from rewrapping them."""
    lines = ["\b", "Profiles:"]
    for name, profile in PROFILES.items():
        lines += textwrap.wrap(f"{name}: {profile.describe()}", 76, initial_indent="  ",
                               subsequent_indent="    ")
    return "\n".join(lines)


# --- plans: what each order draws -----------------------------------------------------------------
ARRIVAL_GAP = timedelta(minutes=1)  # on average
WITHIN_STOCK = ("sku-1", "sku-2", "sku-3", "sku-4")
SOLD_OUT = "sku-none"  # stock 0 in the demo catalogue
MOST_PER_LINE = 3
HOME, NOWHERE = "1 Main Street, Springfield", "12 UNDELIVERABLE Road, Springfield"
TOKENS = {"declined": "tok_decline", "clarified": "tok_clarify", "flaky": "tok_flaky",
          "outage": "tok_outage"}


@dataclass(frozen=True)
class Plan:
    case: str
    arrives_after: timedelta  # since the order before
    items: tuple[tuple[str, int], ...]
    approve: bool = False  # clarified: the call centre's answer
    acts_after: timedelta | None = None  # when the call centre, operator or VIP acts; None: never

    def request(self, number: int, style: str, flow: str) -> dict[str, Any]:
        return {"customer": {"id": f"c-sim-{number}", "name": "Sim Customer",
                             "address": NOWHERE if self.case == "undeliverable" else HOME,
                             "vip": self.case == "vip"},
                "items": [{"sku": sku, "quantity": quantity} for sku, quantity in self.items],
                "payment": {"token": TOKENS.get(self.case, "tok_ok")},
                "style": style, "flow": flow}


def draw_plans(profile: Profile, orders: int, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    return [_draw_plan(rng, profile) for _ in range(orders)]


def _draw_plan(rng: random.Random, profile: Profile) -> Plan:
    case = _draw_case(rng, profile.shares)
    lines = rng.sample(WITHIN_STOCK, rng.randint(1, 2))
    items = tuple((sku, rng.randint(1, MOST_PER_LINE)) for sku in lines)
    if case == "out_of_stock":
        items += ((SOLD_OUT, 1),)
    return Plan(case, _after(rng, ARRIVAL_GAP), items, approve=rng.random() < profile.approved,
                acts_after=_acts_after(rng, profile, case))


def _draw_case(rng: random.Random, shares: dict[str, float]) -> str:
    roll = rng.random()
    for case, share in shares.items():
        if roll < share:
            return case
        roll -= share
    return ORDINARY


def _acts_after(rng: random.Random, profile: Profile, case: str) -> timedelta | None:
    if case == "clarified":
        return _after(rng, profile.answer_after)
    if case == "outage" and rng.random() < profile.retried:
        return _after(rng, profile.retry_after)  # after the payment was parked
    if case == "vip" and rng.random() < profile.paid:
        return _after(rng, profile.pay_after)
    return None


def _after(rng: random.Random, mean: timedelta) -> timedelta:
    """An exponential delay, to the millisecond."""
    return timedelta(milliseconds=round(rng.expovariate(1) * mean.total_seconds() * 1000))


# --- the shop, seen from outside: the HTTP API, the clock, what the bus waits for -----------------
class SimulationError(RuntimeError):
    """A step the harness takes was refused in a way no order's plan explains."""


_deliveries, _deadlines = DeliveryRecord.__table__, DeadlineRecord.__table__
_NEXT_RETRY = select(func.min(_deliveries.c.next_attempt_at)).where(
    _deliveries.c.status.in_(WAITING), _deliveries.c.next_attempt_at > bindparam("now"))
_NEXT_DEADLINE = select(func.min(_deadlines.c.due_at)).where(
    _deadlines.c.status == PENDING_DEADLINE, _deadlines.c.due_at > bindparam("now"))


class Shop:
    def __init__(self, app: Any, clock: ManualClock, admin_token: str) -> None:
        self.app, self.clock = app, clock
        self.bus = app.extensions["orderflow"].bus
        self.client: Client = app.test_client()
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def now(self) -> datetime:
        return self.clock.now()

    def move_to(self, moment: datetime) -> None:
        """Let time pass to ``moment``; what falls due (retries, deadlines) happens now."""
        if moment > self.now():
            self.clock.advance(moment - self.now())
        self.bus.settle()

    @property
    def parked_after(self) -> timedelta:
        """How long a delivery that keeps failing is retried before it is parked."""
        policy = self.bus.retry_policy
        return sum((policy.delay(n) for n in range(1, policy.max_attempts)), timedelta(0))

    def next_due(self) -> datetime | None:
        """When the bus next has something to do by itself: a retry or a deadline."""
        with self.bus.db.reading() as session:
            found = [session.execute(query, {"now": self.now()}).scalar()
                     for query in (_NEXT_RETRY, _NEXT_DEADLINE)]
        return min((as_utc(moment) for moment in found if moment is not None), default=None)

    def place(self, request: dict[str, Any]) -> str:
        return self._expect(self.client.post("/api/orders", json=request), 202)["id"]

    def answer(self, order_id: str, approve: bool) -> bool:
        """The call centre's answer to the order's task; False when it came too late."""
        tasks = self._expect(self.client.get(f"/api/tasks?order_id={order_id}",
                                             headers=self.admin), 200)["items"]
        if not tasks:  # the price hold ended and closed it
            return False
        outcome = "approved" if approve else "declined"
        response = self.client.post(f"/api/tasks/{tasks[0]['id']}/complete",
                                    json={"outcome": outcome}, headers=self.admin)
        self._expect(response, 200, 409)  # 409: the price hold ended a moment ago
        return response.status_code == 200

    def retry_parked(self, order_id: str) -> int:
        letters = self._expect(self.client.get(f"/api/deadletters?order_id={order_id}",
                                               headers=self.admin), 200)["items"]
        for letter in letters:
            self._expect(self.client.post(f"/api/deadletters/{letter['id']}/retry",
                                          headers=self.admin), 202)
        return len(letters)

    def pay_invoices(self, order_id: str) -> int:
        invoices = self._expect(self.client.get(f"/api/invoices?order_id={order_id}"),
                                200)["items"]
        unpaid = [invoice for invoice in invoices if invoice["status"] in (OPEN, OVERDUE)]
        for invoice in unpaid:
            self._expect(self.client.post(f"/api/invoices/{invoice['id']}/pay",
                                          headers=self.admin), 200)
        return len(unpaid)

    @staticmethod
    def _expect(response: Any, *statuses: int) -> Any:
        if response.status_code not in statuses:
            raise SimulationError(f"{response.request.method} {response.request.path} "
                                  f"answered {response.status_code}: {response.get_json()}")
        return response.get_json()


@contextmanager
def open_shop(settings: Settings, orders: int) -> Iterator[Shop]:
    """A fresh app on a throw-away SQLite file, migrated, with the demo catalogue stocked up
    so that only the sold-out item runs out."""
    from app import create_app, schema

    with tempfile.TemporaryDirectory(prefix="orderflow-simulate-") as folder:
        url = f"sqlite:///{Path(folder) / 'simulate.db'}"
        schema.upgrade(url)
        token, clock = secrets.token_urlsafe(16), ManualClock()
        app = create_app(settings.but(dispatch="inline", database_url=url, admin_token=token
                                      ).unlimited(), clock=clock)
        runtime = app.extensions["orderflow"]
        try:
            _stock_up(runtime.bus.db.session(), clock.now(), orders * 2 * MOST_PER_LINE)
            yield Shop(app, clock, token)
        finally:
            runtime.close()


def _stock_up(session: Session, now: datetime, stock: int) -> None:
    with session:
        load_demo_catalogue(session, now)
        session.flush()
        for item in session.execute(select(Item).where(col(Item.sku).in_(WITHIN_STOCK))
                                    ).scalars():
            item.stock = stock
        session.commit()


# --- playing it out -------------------------------------------------------------------------------
@dataclass
class Placed:
    """An order as the harness saw it: its plan, and when people outside acted on it."""

    plan: Plan
    order_id: str
    at: datetime
    acted_at: datetime | None = None


@dataclass
class Agenda:
    """What people outside will do, and when; ties keep the order they were added in."""

    _heap: list[tuple[datetime, int, Callable[[], None]]] = field(default_factory=list)
    _count: Iterator[int] = field(default_factory=itertools.count)

    def add(self, moment: datetime, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (moment, next(self._count), action))

    def next_moment(self) -> datetime | None:
        return self._heap[0][0] if self._heap else None

    def take_due(self, now: datetime) -> Iterator[Callable[[], None]]:
        while self._heap and self._heap[0][0] <= now:
            yield heapq.heappop(self._heap)[2]


ANSWERS = {(True, True): "answers approved", (True, False): "answers declined",
           (False, True): "answers too late", (False, False): "answers too late"}


@dataclass
class Simulation:
    shop: Shop
    style: str
    flow: str
    on_placed: Callable[[], None]
    agenda: Agenda = field(default_factory=Agenda)
    placed: list[Placed] = field(default_factory=list)
    tally: Counter[str] = field(default_factory=Counter)

    def play(self, plans: Iterable[Plan]) -> list[Placed]:
        moment = self.shop.now()
        for number, plan in enumerate(plans):
            moment += plan.arrives_after
            self.agenda.add(moment, lambda plan=plan, number=number: self.arrive(plan, number))
        while (moment := _earliest(self.agenda.next_moment(), self.shop.next_due())) is not None:
            self.shop.move_to(moment)
            for action in self.agenda.take_due(self.shop.now()):
                action()
        return self.placed

    def arrive(self, plan: Plan, number: int) -> None:
        order_id = self.shop.place(plan.request(number, self.style, self.flow))
        placed = Placed(plan, order_id, self.shop.now())
        self.placed.append(placed)
        if plan.acts_after is not None:
            parking = self.shop.parked_after if plan.case == "outage" else timedelta(0)
            self.agenda.add(placed.at + parking + plan.acts_after, lambda: self.act(placed))
        self.on_placed()

    def act(self, placed: Placed) -> None:
        """The call centre answers, the operator retries, the VIP pays; ``acted_at`` says
        when, unless there was nothing to do."""
        order_id, plan = placed.order_id, placed.plan
        if plan.case == "clarified":
            taken = self.shop.answer(order_id, plan.approve)
            self.tally[ANSWERS[taken, plan.approve]] += 1
            done = 1
        elif plan.case == "outage":
            done = self.shop.retry_parked(order_id)
            self.tally["parked payments retried"] += done
        else:
            done = self.shop.pay_invoices(order_id)
            self.tally["invoices paid"] += done
        if done:
            placed.acted_at = self.shop.now()


def _earliest(*moments: datetime | None) -> datetime | None:
    return min((moment for moment in moments if moment is not None), default=None)


# --- what became of the orders --------------------------------------------------------------------
WAITING_FOR_OPERATOR = "parked, waiting for an operator"
NOT_SETTLED = "still under way"


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str | None
    messages: int
    duration: timedelta  # first message to last, in simulated time

    @property
    def label(self) -> str:
        return self.status + (f" ({self.reason})" if self.reason else "")

    @property
    def settled(self) -> bool:
        return self.status in TERMINAL or self.reason == WAITING_FOR_OPERATOR


_messages = MessageRecord.__table__
_FLOWS = (select(_messages.c.flowid, func.count(), func.min(_messages.c.time),
                 func.max(_messages.c.time)).group_by(_messages.c.flowid))


def read_outcomes(session: Session) -> dict[str, Outcome]:
    """Every order's status and reason, with its flow's messages and duration from the log.
    An order that has not ended says why it waits: a delivery parked (or a deadline set
    aside) for an operator, or nothing that explains it."""
    blocked = set(session.execute(flows.blocked()).scalars())
    per_flow = {flowid: (count, as_utc(last) - as_utc(first))
                for flowid, count, first, last in session.execute(_FLOWS)}
    outcomes = {}
    for order_id, status, reason in session.execute(select(Order.id, Order.status,
                                                           Order.reason)):
        if status not in TERMINAL:
            reason = WAITING_FOR_OPERATOR if order_id in blocked else NOT_SETTLED
        count, duration = per_flow.get(order_id, (0, timedelta(0)))
        outcomes[order_id] = Outcome(status, reason, count, duration)
    return outcomes


def expected(placed: Placed, price_hold: timedelta) -> tuple[str, str | None]:
    """How an order must end, from what it drew and when people outside acted on it."""
    case, acted_at = placed.plan.case, placed.acted_at
    in_time = acted_at is not None and acted_at < placed.at + price_hold
    if case == "declined":
        return CANCELLED, "payment_declined"
    if case in ("out_of_stock", "undeliverable"):
        return CANCELLED, case
    if case == "clarified" and in_time:
        return (DELIVERED, None) if placed.plan.approve else (CANCELLED, "payment_declined")
    if case == "outage" and acted_at is None:
        return PLACED, WAITING_FOR_OPERATOR
    if case in ("clarified", "outage") and not in_time:
        return CANCELLED, "price_hold_expired"
    return DELIVERED, None


# --- the checks -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    text: str


def check_settled(outcomes: dict[str, Outcome]) -> Check:
    waiting = sum(o.reason == WAITING_FOR_OPERATOR for o in outcomes.values())
    loose = [order_id for order_id, o in outcomes.items() if not o.settled]
    ended = len(outcomes) - waiting - len(loose)
    text = (f"every order ended or waits for an operator: {ended} ended, {waiting} parked"
            + (f"; {len(loose)} neither, e.g. {loose[0]}" if loose else ""))
    return Check("settled", not loose, text)


def check_endings(placed: list[Placed], outcomes: dict[str, Outcome],
                  price_hold: timedelta) -> Check:
    wrong = [(p, expected(p, price_hold)) for p in placed
             if expected(p, price_hold) != _status_reason(outcomes[p.order_id])]
    text = f"every order ended as its plan says ({len(placed) - len(wrong)} of {len(placed)})"
    for p, (status, reason) in wrong[:3]:
        text += (f"\n        {p.order_id} ({p.plan.case}): expected {status} ({reason}), "
                 f"got {outcomes[p.order_id].label}")
    return Check("endings", not wrong, text)


def _status_reason(outcome: Outcome) -> tuple[str, str | None]:
    return outcome.status, outcome.reason


def check_stock(session: Session, initial: dict[str, int]) -> Check:
    """Goods are on the shelf or in a fetched pick of a delivered or waiting order (never of a
    cancelled one); every delivered order had its goods fetched; nothing went below zero."""
    picks = session.execute(select(Pick.lines, Order.status)
                            .join(Order, col(Order.id) == col(Pick.order_id))
                            .where(Pick.status == FETCHED)).all()
    out = Counter[str]()
    for lines, _ in picks:
        out.update({line["sku"]: line["quantity"] for line in lines})
    stock = dict(session.execute(select(Item.sku, Item.stock)).all())
    off = [sku for sku in initial if stock[sku] + out[sku] != initial[sku] or stock[sku] < 0]
    held_by_cancelled = sum(status == CANCELLED for _, status in picks)
    unfetched = _count(session, select(func.count()).select_from(Order)
                       .where(Order.status == DELIVERED)) - sum(s == DELIVERED for _, s in picks)
    return Check("stock", not (off or held_by_cancelled or unfetched),
                 f"stock: on the shelf + fetched = at the start for "
                 f"{len(initial) - len(off)} of {len(initial)} skus ({sum(out.values())} units "
                 f"out); delivered without goods {unfetched}; goods held by cancelled orders "
                 f"{held_by_cancelled}")


def check_money(session: Session, provider: Any) -> Check:
    """What the bank holds is what payment received, is what the orders that are paid and
    not cancelled cost."""
    bank = provider.charged_cents - provider.refunded_cents
    received = _sum(session, select(func.sum(Payment.amount_cents))
                    .where(Payment.status == RECEIVED))
    orders = _sum(session, select(func.sum(Order.total_cents))
                  .where(col(Order.payment_id).is_not(None), Order.status != CANCELLED))
    return Check("money", bank == received == orders,
                 f"money: charged {money(provider.charged_cents)} - refunded "
                 f"{money(provider.refunded_cents)} = {money(bank)}; payments received "
                 f"{money(received)}; paid orders not cancelled {money(orders)}")


def check_charged_once(session: Session) -> Check:
    twice = _repeated(session, Payment.order_id)
    refunded_twice = _repeated(session, Refund.order_id)
    kept = _count(session, select(func.count()).select_from(Payment)
                  .join(Order, col(Order.id) == col(Payment.order_id))
                  .where(Payment.status == RECEIVED, Order.status == CANCELLED))
    return Check("charged once", not (twice or refunded_twice or kept),
                 f"no order charged twice ({twice}), refunded twice ({refunded_twice}), "
                 f"or cancelled with the money kept ({kept})")


def _repeated(session: Session, column: Any) -> int:
    """How many values occur in more than one row."""
    return _count(session, select(func.count()).select_from(
        select(column).group_by(column).having(func.count() > 1).subquery()))


def check_invoices(session: Session, placed: list[Placed]) -> Check:
    """One invoice per VIP order: paid when the customer paid, overdue otherwise."""
    vips = [p for p in placed if p.plan.case == "vip"]
    paid = sum(p.acted_at is not None for p in vips)
    statuses = Counter(session.execute(select(Invoice.status)).scalars())
    ok = (statuses[PAID], statuses[OVERDUE], statuses.total()) == (paid, len(vips) - paid,
                                                                   len(vips))
    return Check("invoices", ok, f"invoices: {len(vips)} VIP orders, {paid} paid by the customer; "
                 f"invoices paid {statuses[PAID]}, overdue {statuses[OVERDUE]}, other "
                 f"{statuses.total() - statuses[PAID] - statuses[OVERDUE]}")


def check_parcels(outcomes: dict[str, Outcome], carrier: Any) -> Check:
    delivered = sum(o.status == DELIVERED for o in outcomes.values())
    return Check("parcels", carrier.parcels_sent == delivered,
                 f"parcels: {carrier.parcels_sent} handed to the carrier, "
                 f"{delivered} orders delivered")


def _sum(session: Session, query: Any) -> int:
    return session.execute(query).scalar() or 0


def _count(session: Session, query: Any) -> int:
    return session.execute(query).scalar_one()


# --- the report -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    style: str
    outcomes: dict[str, Outcome]
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)

    def table(self) -> Counter[str]:
        return Counter(outcome.label for outcome in self.outcomes.values())


def percentile(values: list[Any], share: float) -> Any:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def outcome_table(outcomes: Iterable[Outcome]) -> list[str]:
    groups: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.label, []).append(outcome)
    total = sum(len(group) for group in groups.values())
    order = sorted(groups, key=lambda label: (not label.startswith(DELIVERED), label))
    lines = [f"  {'outcome':<42} {'orders':>7} {'%':>6}  {'flow p50':>11}  {'flow p95':>11}"
             f"  {'messages':>8}"]
    lines += [_row(label, groups[label], total) for label in order]
    lines.append(_row("all orders", [o for label in order for o in groups[label]], total))
    return lines


def _row(label: str, group: list[Outcome], total: int) -> str:
    durations = [outcome.duration for outcome in group]
    mean_messages = sum(outcome.messages for outcome in group) / len(group)
    return (f"  {label:<42} {len(group):>7} {len(group) / total:>6.1%}  "
            f"{span(percentile(durations, 0.5)):>11}  {span(percentile(durations, 0.95)):>11}"
            f"  {mean_messages:>8.1f}")


def report(result: Result, placed: list[Placed], tally: Counter[str], echo: Echo) -> None:
    outcomes = list(result.outcomes.values())
    lines = ["", *outcome_table(outcomes), "", *_spread(outcomes), *_people(placed, tally),
             "", "  checks"]
    lines += [f"    {'ok  ' if check.ok else 'FAIL'}  {check.text}" for check in result.checks]
    for line in lines:
        echo(line)


def _spread(outcomes: list[Outcome]) -> list[str]:
    durations, messages = [o.duration for o in outcomes], [o.messages for o in outcomes]
    return [f"  flow duration (first to last message, simulated time): "
            f"p50 {span(percentile(durations, 0.5))}, p95 {span(percentile(durations, 0.95))}",
            f"  messages per order: mean {sum(messages) / len(messages):.1f}, "
            f"p95 {percentile(messages, 0.95)}, most {max(messages)}"]


def _people(placed: list[Placed], tally: Counter[str]) -> list[str]:
    """What the orders drew, and what people outside did about it."""
    drawn = Counter(p.plan.case for p in placed)
    acted = ", ".join(f"{name} {count}" for name, count in sorted(tally.items()))
    return ["  drawn: " + ", ".join(f"{CASES.get(case, case)} {drawn[case]}"
                                    for case in (ORDINARY, *CASES) if drawn[case]),
            f"  people outside: {acted or 'nobody was needed'}"]


# --- one run --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Options:
    orders: int
    styles: tuple[str, ...]
    flow: str
    profile: Profile
    seed: int
    settings: Settings


def run(options: Options, echo: Echo) -> bool:
    """Simulate the orders in each style in turn (the same plans in each); True when every
    check passed."""
    plans = draw_plans(options.profile, options.orders, options.seed)
    echo(_header(options))
    results = []
    with quiet_dispatcher():
        for style in options.styles:
            results.append(_run_style(options, style, plans, echo))
    if len(results) > 1:
        alike = all(result.table() == results[0].table() for result in results)
        echo(f"\n{'ok  ' if alike else 'FAIL'}  the same outcomes in every style: "
             f"{'yes' if alike else 'no'}")
        return alike and all(result.ok for result in results)
    return results[0].ok


def _header(options: Options) -> str:
    settings = options.settings
    return (f"simulating {options.orders} orders, flow {options.flow}, profile "
            f"{options.profile.name}, seed {options.seed}\n"
            f"  profile {options.profile.name}: {options.profile.describe()}\n"
            f"  an order about every {span(ARRIVAL_GAP)}; price hold {span(settings.price_hold)},"
            f" invoice term {span(settings.invoice_term)}, a delivery is parked after "
            f"{settings.retry_max_attempts} attempts")


def _run_style(options: Options, style: str, plans: list[Plan], echo: Echo) -> Result:
    echo(f"\n=== {style} ===")
    wall, cpu = time.perf_counter(), time.process_time()
    with open_shop(options.settings, options.orders) as shop, _progress(style, plans) as bar:
        initial, start = stock_levels(shop), shop.now()
        simulation = Simulation(shop, style, options.flow, on_placed=lambda: bar.update(1))
        placed = simulation.play(plans)
        result, end = judge(shop, style, placed, initial, options.settings.price_hold), shop.now()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    echo(f"simulated {span(end - start)} ({start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC) "
         f"in {wall:.1f} s ({cpu:.1f} s CPU), {len(plans) / wall:.0f} orders/s")
    report(result, placed, simulation.tally, echo)
    return result


@contextmanager
def _progress(style: str, plans: list[Plan]) -> Iterator[Any]:
    with click.progressbar(length=len(plans), label=f"placing orders ({style})",
                           file=sys.stderr, show_pos=True) as bar:
        yield bar


def stock_levels(shop: Shop) -> dict[str, int]:
    with shop.bus.db.reading() as session:
        return dict(session.execute(select(Item.sku, Item.stock)).all())


def judge(shop: Shop, style: str, placed: list[Placed], initial: dict[str, int],
           price_hold: timedelta) -> Result:
    adapters = shop.bus.adapters
    with shop.bus.db.reading() as session:
        outcomes = read_outcomes(session)
        checks = [check_settled(outcomes), check_endings(placed, outcomes, price_hold),
                  check_stock(session, initial), check_money(session, adapters.payment_provider),
                  check_charged_once(session), check_invoices(session, placed),
                  check_parcels(outcomes, adapters.carrier)]
    return Result(style, outcomes, checks)


# --- the command ----------------------------------------------------------------------------------
STYLE_CHOICES, FLOW_CHOICES = (*STYLES, "all"), FLOWS


def main(orders: int, style: str | None, flow: str | None, profile: str, seed: int) -> bool:
    """``orderflow simulate``: style and flow default to the settings (ORDERFLOW_STYLE,
    ORDERFLOW_FLOW), which also give the price hold, the invoice term and the retry policy."""
    try:
        settings = from_environment()
    except ConfigError as error:
        raise click.UsageError(str(error)) from None
    if settings.retry_max_attempts <= FLAKY_FAILURES:
        raise click.UsageError(
            f"ORDERFLOW_RETRY_MAX_ATTEMPTS={settings.retry_max_attempts}: the simulation plays "
            f"tok_flaky as a card that pays after {FLAKY_FAILURES} failures, so it needs more "
            f"than {FLAKY_FAILURES} attempts")
    styles = STYLES if style == "all" else (style or settings.style,)
    try:
        return run(Options(orders, styles, flow or settings.flow, PROFILES[profile], seed,
                           settings), click.echo)
    except SimulationError as error:
        raise click.ClickException(f"the simulation stopped: {error}") from None
