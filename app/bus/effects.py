"""Calls to other systems (the payment provider, the carrier) happen outside every database
transaction (ADR 0020). Inside a unit of work the adapters are gated: a call whose answer this
run does not know yet stops the work (``NeedsCall``), the transaction rolls back, the claim's
lease is renewed and committed, the call is made with nothing locked, bounded by a timeout, and
the work runs again in a fresh unit of work that now knows the answer and commits the state
change, its messages and the delivery's completion together. Every call carries an idempotency
key derived from the message, so a redelivery after a crash repeats it and gets the first
answer."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from app.bus.unit_of_work import UnitOfWork

T = TypeVar("T")
MAX_CALLS_PER_RUN = 20  # a work that keeps asking for new calls is a bug, not a flow


class NeedsCall(Exception):
    """Raised by a gated adapter inside a transaction: make this call outside, then rerun."""

    def __init__(self, key: tuple[str, str, str], call: Callable[[], Any],
                 timeout: timedelta | None = None) -> None:
        super().__init__(f"{key[0]}.{key[1]} ({key[2]}) must be called outside the transaction")
        self.key, self.call, self.timeout = key, call, timeout


class CallTimedOut(RuntimeError):
    """Another system did not answer in time; a retry repeats the call with the same key."""


class Answers:
    """What the calls of one run answered, by (adapter, method, idempotency key)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, str], tuple[bool, Any]] = {}

    def knows(self, key: tuple[str, str, str]) -> bool:
        return key in self._known

    def give(self, key: tuple[str, str, str]) -> Any:
        raised, value = self._known[key]
        if raised:
            raise value
        return value

    def learn(self, key: tuple[str, str, str], call: Callable[[], Any], run: Callable) -> None:
        try:
            self._known[key] = (False, run(call))
        except CallTimedOut:
            raise  # transient: the delivery is retried and the call repeated
        except Exception as error:  # the other system's answer, e.g. a transient failure
            self._known[key] = (True, error)

    def __len__(self) -> int:
        return len(self._known)


class _Gate:
    """Stands in for one adapter inside a unit of work. An adapter with a ``call_timeout``
    (a timedelta) bounds its own calls by it instead of ORDERFLOW_CALL_TIMEOUT."""

    def __init__(self, name: str, adapter: Any, answers: Answers) -> None:
        self._name, self._adapter, self._answers = name, adapter, answers

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._adapter, attribute)
        if not callable(value):
            return value

        @functools.wraps(value)
        def gated(*args: Any, **kwargs: Any) -> Any:
            key = (self._name, attribute, str(kwargs.get("idempotency_key")))
            if self._answers.knows(key):
                return self._answers.give(key)
            raise NeedsCall(key, functools.partial(value, *args, **kwargs),
                            getattr(self._adapter, "call_timeout", None))
        return gated


def gate(adapters: SimpleNamespace, answers: Answers) -> SimpleNamespace:
    return SimpleNamespace(**{name: _Gate(name, adapter, answers)
                              for name, adapter in vars(adapters).items()})


def calls_outside(work: Callable[..., T]) -> Callable[..., T]:
    """For a receiver (``work(msg, uow)``) or a use case (``work(uow, ...)``) that opens its
    unit of work (``with uow: ...; uow.commit()``) and may call another system in it."""

    @functools.wraps(work)
    def run(*args: Any, **kwargs: Any) -> T:
        uow = next(arg for arg in args if hasattr(arg, "answers"))
        while True:
            try:
                return work(*args, **kwargs)
            except NeedsCall as need:
                _call(uow, need)
    return run


def _call(uow: UnitOfWork, need: NeedsCall) -> None:
    if len(uow.answers) >= MAX_CALLS_PER_RUN:
        raise RuntimeError(f"more than {MAX_CALLS_PER_RUN} outside calls in one unit of work")
    uow.renew_claim()  # the delivery is still ours, for another lease, before we call
    uow.answers.learn(need.key, need.call, functools.partial(bounded, uow, limit=need.timeout))


def bounded(uow: UnitOfWork, call: Callable[[], T], limit: timedelta | None = None) -> T:
    """Run ``call`` in a thread of its own, waiting at most ``limit`` (by default the call
    timeout), and renew the claim's lease while it runs so that no other worker takes the
    delivery over meanwhile. A call that times out goes on in its thread; its answer is kept
    by the other system under its idempotency key, and the retry gets it."""
    timeout = (limit or uow.bus.settings.call_timeout).total_seconds()
    slice_seconds = max(uow.bus.settings.lease.total_seconds() / 3, 0.05)
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = call()
        except BaseException as error:  # handed to the waiting thread
            outcome["error"] = error
        finally:
            finished.set()

    threading.Thread(target=target, name="orderflow-outside-call", daemon=True).start()
    _wait(uow, finished, timeout, slice_seconds)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _wait(uow: UnitOfWork, finished: threading.Event, timeout: float, slice_seconds: float
          ) -> None:
    give_up = time.monotonic() + timeout
    while not finished.wait(max(0.0, min(slice_seconds, give_up - time.monotonic()))):
        if time.monotonic() >= give_up:
            raise CallTimedOut(f"no answer within {timedelta(seconds=timeout)}")
        uow.renew_claim()
