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
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise ApiError(401, "unauthorized",
                       "this needs 'Authorization: Bearer <admin token>'")
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise ApiError(403, "forbidden", "the admin token is not right")


READ_METHODS = ("GET", "HEAD", "OPTIONS")


def writes_need_an_admin() -> None:
    """A blueprint's ``before_request``: every request but a read needs the admin token,
    checked before the body, so a stranger learns nothing from validation errors."""
    if request.method not in READ_METHODS:
        require_admin()
