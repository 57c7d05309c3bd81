"""Every error answer is problem details (RFC 9457): a walk over the app's URL map with the
inputs that go wrong (no token, a wrong token, a method the route does not take, malformed
JSON, a body that is not JSON, a body over the limit, a NUL in the query) and paths no route
has. The dashboard's pages answer people in HTML; whatever of theirs answers JSON is problem
details too."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from tests.conftest import ADMIN_HEADERS, on_every_database
from tests.shop import error_of

pytestmark = on_every_database
BODY_LIMIT = 1024
WRONG_TOKEN = {"Authorization": "Bearer not-the-token-at-all-0123456789"}
ASKED = ("GET", "POST", "PUT", "DELETE", "PATCH")


def routes(app: Flask) -> Iterator[tuple[Rule, str]]:
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in ("static", "openapi.static"):
            yield rule, re.sub(r"<(?:int:)?[^>]+>", "1", rule.rule)


def bad_requests(client: FlaskClient, rule: Rule, url: str) -> Iterator[TestResponse]:
    methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    for method in methods:
        yield client.open(url, method=method)  # no token
        yield client.open(url, method=method, headers=WRONG_TOKEN)
        yield client.open(f"{url}?q=a%00b", method=method, headers=ADMIN_HEADERS)
        if method != "GET":
            for body, kind in (("{", "application/json"), ("x", "text/plain"),
                               ("[" * (BODY_LIMIT + 1), "application/json")):
                yield client.open(url, method=method, data=body, content_type=kind,
                                  headers=ADMIN_HEADERS)
    for method in sorted(set(ASKED) - set(methods)):
        yield client.open(url, method=method, headers=ADMIN_HEADERS)


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(max_body_bytes=BODY_LIMIT)


def test_every_error_of_every_route_is_problem_details(app: Flask) -> None:
    client, seen = app.test_client(), set()
    for rule, url in routes(app):
        for answer in bad_requests(client, rule, url):
            if rule.endpoint.startswith("dashboard.") and not answer.is_json:
                continue  # a page for people
            if answer.status_code >= 400:
                error_of(answer, answer.status_code)
                seen.add(answer.status_code)
    assert {400, 401, 403, 405, 413, 415} <= seen, seen


@pytest.mark.parametrize("path", ["/api/nope", "/nope", "/api/orders/1/nope"])
def test_a_path_no_route_has_is_a_404_in_problem_details(client: FlaskClient, path: str) -> None:
    for method in ASKED:
        error_of(client.open(path, method=method, json={}), 404)


def test_a_static_file_that_is_not_there_is_a_404_in_problem_details(client: FlaskClient) -> None:
    error_of(client.get("/static/nope.js"), 404)
    error_of(client.post("/static/nope.js"), 405)


def test_a_failure_nobody_expected_is_a_500_in_problem_details_that_tells_nothing_inside(
        make_app: Callable[..., Flask]) -> None:
    app = make_app()

    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_url_rule("/api/boom", "boom", boom)
    problem = error_of(app.test_client().get("/api/boom"), 500)
    assert "hunter2" not in str(problem) and "Traceback" not in str(problem), problem
