"""A client generated from the served document (openapi-python-client, regenerated here from
the live spec, never committed) runs the order flow in every style: it places an order, follows
it to delivered, completes a clarification task and reads the timeline; it parses every answer
with the models the document describes, so a drift between the code and its document fails
here as it would in a shop's storefront."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import httpx
import pytest
from flask import Flask

from tests.conftest import ADMIN, STYLES, build_app, on_every_database
from tests.e2e.gunicorn import BIN
from tests.shop import HOME

pytestmark = on_every_database
PACKAGE = "orderflow_client"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The client package, generated from what a running app serves at /api/openapi.json."""
    folder = tmp_path_factory.mktemp("client")
    app = build_app(f"sqlite:///{folder / 'spec.db'}", seed=False)
    spec = folder / "openapi.json"
    spec.write_bytes(app.test_client().get("/api/openapi.json").get_data())
    app.extensions["orderflow"].close()
    done = subprocess.run([str(BIN / "openapi-python-client"), "generate", "--path", str(spec),
                           "--meta", "none", "--output-path", str(folder / PACKAGE)],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"})
    assert done.returncode == 0 and "Warning" not in done.stdout, done.stdout + done.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [n for n in sys.modules if n.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def part(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.fixture
def client(generated: ModuleType, make_app: Callable[..., Flask]) -> Any:
    return generated.AuthenticatedClient(
        base_url="http://orderflow.test", token=ADMIN,
        httpx_args={"transport": httpx.WSGITransport(app=make_app())})


def place(client: Any, style: str, token: str) -> Any:
    models = part("models")
    body = models.PlaceOrderIn(
        customer=models.CustomerIn(id="c-1", name="Ada", address=HOME),
        items=[models.ItemIn(sku="sku-1", quantity=1)], payment=models.PaymentIn(token=token),
        style=models.PlaceOrderInStyleType0(style))
    answer = part("api.orders.place_order").sync_detailed(client=client, body=body)
    assert answer.status_code == 202, answer.content
    return answer.parsed


def status_of(client: Any, order_id: str) -> str:
    return part("api.orders.get_order").sync(client=client, order_id=order_id).status.value


@pytest.mark.parametrize("style", STYLES)
def test_the_generated_client_follows_an_order_to_delivered(client: Any, style: str) -> None:
    placed = place(client, style, "tok_ok")
    assert placed.style.value == style
    assert status_of(client, placed.id) == "delivered"
    timeline = part("api.orders.get_timeline").sync(client=client, order_id=placed.id)
    assert timeline.order_id == placed.id and len(timeline.messages) >= 4


@pytest.mark.parametrize("style", STYLES)
def test_the_generated_client_completes_a_clarification_task(client: Any, style: str) -> None:
    placed = place(client, style, "tok_clarify")
    assert status_of(client, placed.id) == "payment_clarification"
    tasks = part("api.payment.list_tasks").sync(client=client, order_id=placed.id)
    assert [task.order_id for task in tasks.items] == [placed.id]
    answer = part("models").CompleteTaskIn(outcome=part("models").CompleteTaskInOutcome.APPROVED)
    done = part("api.payment.complete_task").sync(client=client, task_id=tasks.items[0].id,
                                                 body=answer)
    assert done.status.value == "approved"
    assert status_of(client, placed.id) == "delivered"


def test_the_generated_client_reads_an_error_as_problem_details(client: Any) -> None:
    answer = part("api.orders.get_order").sync_detailed(client=client, order_id="ord_nope")
    assert answer.status_code == 404
    assert answer.parsed.code == "order_not_found" and answer.parsed.status == 404
