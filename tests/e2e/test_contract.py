"""The served OpenAPI document is a contract other programs can rely on: valid OpenAPI 3.1;
every operation named, tagged and with its answers described (errors as problem details); the
routes that need the admin token say so. schemathesis, fuzzing every operation on both
databases with the token supplied through the document's security scheme, finds no server
error and no answer that contradicts the document."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import ADMIN, ADMIN_HEADERS, STYLES, on_every_database
from tests.shop import HOME

pytestmark = on_every_database
OPERATION_ID = re.compile(r"^[a-z]+(?:[A-Z][a-z]*)+$")  # placeOrder, getTimeline
PROBLEM = {"$ref": "#/components/schemas/Problem"}
NOT_READY = {"$ref": "#/components/schemas/NotReadyProblem"}  # with its reasons and checks
FUZZ_EXAMPLES = 30
# Every default check but one: "schema-valid input is accepted" cannot hold where validity goes
# beyond what a schema can say (a sku in the catalogue, a cursor this API handed out, a clock
# step of at most P3660D): refusing such input with a 4xx naming the field is right. Input that
# breaks the schema must still be refused (negative_data_rejection is on).
NOT_CHECKED = [positive_data_acceptance]
# /readyz answers 503 "not ready" by design (here: no migrations table, no ticker), documented
EXCLUDED = {"/readyz": [not_a_server_error]}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


@pytest.fixture
def document(app: Flask) -> dict[str, Any]:
    answer = app.test_client().get("/api/openapi.json")
    assert answer.status_code == 200
    return answer.get_json()


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_every_operation_is_named_tagged_and_answers_something_described(
        document: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in operations(document)]
    assert len(ids) == len(set(ids)) and all(OPERATION_ID.match(i) for i in ids), ids
    for method, path, operation in operations(document):
        assert operation["tags"], (method, path)
        successes = [s for s in operation["responses"] if s.startswith("2")]
        with_a_body = [s for s in successes if s != "204"]  # No Content has none to describe
        assert successes and all(operation["responses"][s].get("content") for s in with_a_body), \
            (method, path, operation["responses"])


def test_every_error_an_operation_can_answer_is_problem_details(
        document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        errors = {s: r for s, r in operation["responses"].items()
                  if s == "default" or (s.isdigit() and int(s) >= 400)}
        assert "default" in errors, (method, path)
        for status, response in errors.items():
            problem = NOT_READY if (path, status) == ("/readyz", "503") else PROBLEM
            assert response["content"] == {"application/problem+json": {"schema": problem}}, \
                (method, path, status)


def test_the_routes_that_need_the_admin_token_declare_it_and_the_others_do_not(
        make_app: Callable[..., Flask], document: dict[str, Any]) -> None:
    """Asked without a token, a route refuses with 401 exactly when it declares security.
    (Each refusal counts as a failed credential: the limit on those is not what is tested.)"""
    client = make_app(rate_limit_login="off").test_client()
    for method, path, operation in operations(document):
        url = re.sub(r"\{[^}]+\}", "1", path)
        answer = client.open(url, method=method, json={} if "requestBody" in operation else None)
        needs_a_token = answer.status_code == 401
        assert needs_a_token == bool(operation.get("security")), (method, path, answer.status_code)


def fuzzed(app: Flask) -> Any:
    """The app's own document, loaded by schemathesis, the admin token given to both bearer
    schemes."""
    config = SchemathesisConfig.from_dict({"auth": {"openapi": {
        "adminToken": {"bearer": ADMIN}, "metricsToken": {"bearer": ADMIN}}}})
    return schemathesis.openapi.from_wsgi("/api/openapi.json", app, config=config)


def test_no_operation_answers_a_server_error_or_contradicts_the_document(
        make_app: Callable[..., Flask]) -> None:
    """Every default check: no 5xx, documented statuses, content types, headers and schemas;
    invalid input refused. (One test walks the operations: schemathesis's own pytest
    parametrization does not run under pytest 9.)"""
    # it sends wrong tokens on purpose, more than the failed-credentials limit allows a minute
    app = make_app(rate_limit_login="off")
    for result in fuzzed(app).get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def call_and_validate(case: Any) -> None:
            case.call_and_validate(excluded_checks=[*NOT_CHECKED, *EXCLUDED.get(case.path, [])])

        print("fuzzing", operation.label, flush=True)
        call_and_validate()


def checked(schema: Any, label: str, **parts: Any) -> Any:
    """Call one operation (``"POST /api/orders"``) with these parts, check the answer against
    the document (every check, as above), and return it."""
    method, path = label.split(" ", 1)
    case = schema[path][method].Case(headers=dict(ADMIN_HEADERS), **parts)
    answer = case.call_and_validate(excluded_checks=NOT_CHECKED)
    assert answer.status_code < 300, (label, answer.status_code, answer.text)
    return answer


@pytest.mark.parametrize("style", STYLES)
def test_real_answers_of_an_order_flow_match_the_document(make_app: Callable[..., Flask],
                                                          style: str) -> None:
    """Fuzzing seldom gets past validation; a real flow does: an order that needs a
    clarification, the call centre's approval, the order delivered; a VIP order's invoice paid."""
    schema = fuzzed(make_app())
    body = {"customer": {"id": "c-1", "name": "Ada", "address": HOME}, "style": style,
            "items": [{"sku": "sku-1", "quantity": 1}], "payment": {"token": "tok_clarify"}}
    order_id = checked(schema, "POST /api/orders", body=body).json()["id"]
    task = checked(schema, "GET /api/tasks", query={"order_id": order_id}).json()["items"][0]
    checked(schema, "POST /api/tasks/{task_id}/complete", path_parameters={"task_id": task["id"]},
            body={"outcome": "approved"})
    assert checked(schema, "GET /api/orders/{order_id}",
                   path_parameters={"order_id": order_id}).json()["status"] == "delivered"
    for label in ("GET /api/orders/{order_id}/timeline",):
        checked(schema, label, path_parameters={"order_id": order_id})
    for label in ("GET /api/payments", "GET /api/invoices"):
        checked(schema, label, query={"order_id": order_id})
    vip = {**body, "customer": {**body["customer"], "vip": True}, "payment": {"token": "tok_ok"}}
    vip_id = checked(schema, "POST /api/orders", body=vip).json()["id"]
    invoice = checked(schema, "GET /api/invoices", query={"order_id": vip_id}).json()["items"][0]
    checked(schema, "POST /api/invoices/{invoice_id}/pay",
            path_parameters={"invoice_id": invoice["id"]})
    checked(schema, "GET /api/orders", query={"style": style})
