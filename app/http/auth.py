"""Admin endpoints need ``Authorization: Bearer <ORDERFLOW_ADMIN_TOKEN>``."""

from __future__ import annotations

import hmac

from flask import current_app, request

from app.http.errors import ApiError


def require_admin() -> None:
    expected = current_app.extensions["orderflow"].admin_token
    if not expected:
        raise ApiError(403, "admin_disabled",
                       "no admin token is configured; set ORDERFLOW_ADMIN_TOKEN")
    require_bearer(expected, "admin token")


def require_metrics_reader() -> None:
    """``GET /metrics``: ORDERFLOW_METRICS_TOKEN when set (a scraper need not be an admin),
    else the admin token."""
    runtime = current_app.extensions["orderflow"]
    if runtime.settings.metrics_token:
        require_bearer(runtime.settings.metrics_token, "metrics token")
    elif runtime.admin_token:
        require_bearer(runtime.admin_token, "metrics token or admin token")
    else:
        raise ApiError(403, "metrics_disabled", "no token is configured; set "
                       "ORDERFLOW_METRICS_TOKEN (or ORDERFLOW_ADMIN_TOKEN)")


def require_bearer(expected: str, what: str) -> None:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise ApiError(401, "unauthorized", f"this needs 'Authorization: Bearer <{what}>'")
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise ApiError(403, "forbidden", f"the {what} is not right")


READ_METHODS = ("GET", "HEAD", "OPTIONS")


def writes_need_an_admin() -> None:
    """A blueprint's ``before_request``: every request but a read needs the admin token,
    checked before the body, so a stranger learns nothing from validation errors."""
    if request.method not in READ_METHODS:
        require_admin()
