"""The simulated provider and carrier stand for outside systems: what they answered under an
idempotency key, and how often a key was tried, outlives our processes (their ledger is a
database of their own), so a retry after a restart gets the first answer and takes no money
twice, and ``tok_flaky`` fails twice per key, not twice per process."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest
from flask import Flask

from app.modules.payment.provider import FLAKY_FAILURES, TransientProviderError
from tests.conftest import on_every_database

pytestmark = on_every_database


def restarted(make_app: Callable[..., Flask]) -> Callable[[], object]:
    """A fresh process on the same database, each time it is called: its adapters."""
    def adapters() -> object:
        return make_app().extensions["orderflow"].bus.adapters
    return adapters


def test_a_charge_retried_after_a_restart_gets_the_first_answer(
        make_app: Callable[..., Flask]) -> None:
    process = restarted(make_app)
    key = f"charge:{uuid.uuid4().hex}"
    first = process().payment_provider.charge("tok_ok", 1990, key)  # type: ignore[attr-defined]

    again = process().payment_provider  # type: ignore[attr-defined]
    retried = again.charge("tok_ok", 1990, key)

    assert first.ok and retried == first
    assert again.charged_cents == 0  # the second process took nothing


def test_flaky_fails_twice_per_key_across_restarts(make_app: Callable[..., Flask]) -> None:
    process = restarted(make_app)
    key = f"charge:{uuid.uuid4().hex}"
    for _ in range(FLAKY_FAILURES):
        with pytest.raises(TransientProviderError):
            process().payment_provider.charge("tok_flaky", 500, key)  # type: ignore[attr-defined]

    assert process().payment_provider.charge("tok_flaky", 500, key).ok  # type: ignore[attr-defined]


def test_a_void_after_a_restart_gives_back_what_the_charge_took_once(
        make_app: Callable[..., Flask]) -> None:
    process = restarted(make_app)
    key = f"charge:{uuid.uuid4().hex}"
    process().payment_provider.charge("tok_ok", 700, key)  # type: ignore[attr-defined]

    given_back = [process().payment_provider.void(key) for _ in range(2)]  # type: ignore[attr-defined]

    assert given_back == [700, 0]


def test_a_shipment_retried_after_a_restart_is_the_same_parcel(
        make_app: Callable[..., Flask]) -> None:
    process = restarted(make_app)
    key = f"ship:{uuid.uuid4().hex}"
    first = process().carrier.ship("Ada", "1 Main Street", key)  # type: ignore[attr-defined]

    again = process().carrier  # type: ignore[attr-defined]

    assert again.ship("Ada", "1 Main Street", key) == first and first.accepted
    assert again.parcels_sent == 0
