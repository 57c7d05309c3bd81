"""Who is logged in, and the CSRF token every dashboard form carries."""

from __future__ import annotations

import hmac
import secrets

from flask import abort, current_app, request, session

ADMIN, CSRF = "admin", "csrf"


def logged_in() -> bool:
    return session.get(ADMIN) is True


def log_in(token: str) -> bool:
    expected = current_app.extensions["orderflow"].admin_token
    if not expected or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return False
    session.clear()  # a fresh session: no fixation
    session[ADMIN] = True
    session[CSRF] = secrets.token_urlsafe(32)
    return True


def log_out() -> None:
    session.clear()


def csrf_token() -> str:
    if CSRF not in session:
        session[CSRF] = secrets.token_urlsafe(32)
    return str(session[CSRF])


def check_form() -> None:
    """Before any dashboard POST: the form must carry this session's CSRF token (so another
    site cannot post it), and, but for the login itself, come from a logged-in operator."""
    if request.endpoint != "dashboard.login" and not logged_in():
        abort(401, "log in with the admin token first")
    given = request.form.get("csrf_token", "")
    expected = session.get(CSRF, "")
    if not expected or not hmac.compare_digest(given.encode(), str(expected).encode()):
        abort(400, "the form is stale or did not come from this dashboard; reload the page")
