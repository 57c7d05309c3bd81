"""The sandbox provider and carrier stand for other systems: their books (idempotency keys,
attempt counts, answers) are tables of their own and outlive our processes. Two app instances
on one database play a restart."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.modules.payment.provider import TransientProviderError
from tests.conftest import on_every_database

pytestmark = on_every_database


def provider(app: Any) -> Any:
    return app.extensions["orderflow"].bus.adapters.payment_provider


def carrier(app: Any) -> Any:
    return app.extensions["orderflow"].bus.adapters.carrier


def test_a_flaky_card_fails_twice_per_key_across_restarts_then_keeps_its_first_answer(
        make_app: Callable[..., Any]) -> None:
    before, after = make_app(), make_app()
    with pytest.raises(TransientProviderError):
        provider(before).charge("tok_flaky", 1250, idempotency_key="charge:o-1")
    with pytest.raises(TransientProviderError):  # the second failure, in the other process
        provider(after).charge("tok_flaky", 1250, idempotency_key="charge:o-1")
    answer = provider(after).charge("tok_flaky", 1250, idempotency_key="charge:o-1")
    assert answer.ok and answer.charge_id
    assert provider(before).charge("tok_flaky", 1250, idempotency_key="charge:o-1") == answer
    assert provider(make_app()).charge("tok_flaky", 1250, idempotency_key="charge:o-1") == answer
    assert provider(before).charged_cents == provider(after).charged_cents == 1250


def test_an_outage_counts_its_attempts_across_restarts(make_app: Callable[..., Any]) -> None:
    apps = [make_app(retry_max_attempts=3) for _ in range(3)]
    for app in apps:
        with pytest.raises(TransientProviderError):
            provider(app).charge("tok_outage", 500, idempotency_key="charge:o-2")
    assert provider(make_app(retry_max_attempts=3)).charge(
        "tok_outage", 500, idempotency_key="charge:o-2").ok


def test_refunds_voids_and_parcels_happen_once_per_key_across_restarts(
        make_app: Callable[..., Any]) -> None:
    before, after = make_app(), make_app()
    charge = provider(before).charge("tok_ok", 900, idempotency_key="charge:o-3")
    refund = provider(before).refund(charge.charge_id, 900, idempotency_key="refund:p-3")
    assert provider(after).refund(charge.charge_id, 900, idempotency_key="refund:p-3") == refund
    provider(before).charge("tok_ok", 400, idempotency_key="charge:o-4")
    assert provider(after).void(idempotency_key="charge:o-4") == 400
    assert provider(before).void(idempotency_key="charge:o-4") == 0
    assert provider(after).refunded_cents == 1300
    parcel = carrier(before).ship("Ada", "1 Main Street", idempotency_key="ship:o-3")
    assert carrier(after).ship("Ada", "1 Main Street", idempotency_key="ship:o-3") == parcel
    assert carrier(after).parcels_sent == 1
