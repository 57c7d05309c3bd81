"""Every answer carries the security headers; pages and API answers are never cached; the
session cookie is HttpOnly, SameSite=Lax, and Secure when ORDERFLOW_COOKIE_SECURE says so."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask

from app.http.headers import EVERY_RESPONSE
from tests.conftest import ADMIN, ADMIN_HEADERS, on_every_database
from tests.integration.test_dashboard import Dashboard
from tests.integration.test_health import every_get_path

pytestmark = on_every_database
STATIC = "/static/vendor/htmx/htmx.min.js"


def test_every_route_answers_with_the_security_headers_and_no_store(app: Flask) -> None:
    client = app.test_client()
    paths = every_get_path(app)
    assert {"/", "/login", "/api/orders", "/healthz", "/metrics"} <= set(paths)

    for path in paths:
        response = client.get(path, headers=ADMIN_HEADERS)
        for name, value in EVERY_RESPONSE.items():
            assert response.headers.get(name) == value, (path, name)
        assert response.headers["Cache-Control"] == "no-store", path


def test_errors_and_refusals_carry_them_too(app: Flask) -> None:
    client = app.test_client()
    for response in (client.get("/no/such/page"), client.delete("/api/orders"),
                     client.post("/api/orders", data="[", content_type="application/json"),
                     client.put("/api/catalog/x", json={})):
        assert response.status_code >= 400
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_static_files_may_be_cached_but_not_sniffed(app: Flask) -> None:
    response = app.test_client().get(STATIC)
    assert response.status_code == 200
    assert response.headers.get("Cache-Control") != "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("secure", [False, True])
def test_the_session_cookie_is_secure_when_told(make_app: Callable[..., Flask],
                                                secure: bool) -> None:
    response = Dashboard(make_app(cookie_secure=secure)).login(token=ADMIN)

    assert response.status_code == 303

    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("Secure" in cookie.split("; ")) is secure
