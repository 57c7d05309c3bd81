"""Who is logged in, and the CSRF token every dashboard form carries."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import abort, current_app, request, session

from app.http import logins

ADMIN, CSRF, LOGIN = "admin", "csrf", "login"


def logged_in() -> bool:
    expected = _admin_token()
    given, login_id = session.get(ADMIN), session.get(LOGIN)
    return (bool(expected) and isinstance(given, str) and isinstance(login_id, str)
            and hmac.compare_digest(given.encode(), _bound_to(expected).encode())
            and logins.is_open(_db(), login_id))


def log_in(token: str) -> bool:
    expected = _admin_token()
    if not expected or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        return False
    session.clear()  # a fresh session: no fixation
    session[ADMIN] = _bound_to(expected)
    session[LOGIN] = logins.start(_db(), current_app.permanent_session_lifetime)
    session[CSRF] = secrets.token_urlsafe(32)
    return True


def _db():  # type: ignore[no-untyped-def]
    return current_app.extensions["orderflow"].bus.db


def _admin_token() -> str | None:
    return current_app.extensions["orderflow"].admin_token  # type: ignore[no-any-return]


def _bound_to(token: str) -> str:
    """What the session keeps of the login: a keyed fingerprint of the admin token, so that a
    new token ends every session, and a stolen cookie tells nothing about the token."""
    key = str(current_app.secret_key).encode()
    return hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


def log_out() -> None:
    """Ends the login on the server too: a copy of the cookie made before is refused."""
    login_id = session.get(LOGIN)
    if isinstance(login_id, str):
        logins.end(_db(), login_id)
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
