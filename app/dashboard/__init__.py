"""The dashboard: server-rendered pages (Jinja) over the same functions as the JSON API, with
htmx for live refresh and Mermaid for diagrams (both vendored under ``app/static/vendor``).
Operators log in with the admin token; the session cookie then carries the login, and every
form a CSRF token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

from flask import Flask, Response, g

from app.dashboard import session
from app.dashboard.views import blueprint

SESSION_KEY_LABEL = b"orderflow dashboard session"


def register(app: Flask, admin_token: str | None) -> None:
    """Mount the dashboard. The session key is derived from the admin token, so every worker
    process agrees on it and a new token logs everyone out."""
    app.secret_key = session_key(admin_token)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="orderflow_session")
    app.jinja_env.globals["csrf_token"] = session.csrf_token
    app.register_blueprint(blueprint)
    app.before_request(_start_timer)
    app.after_request(_server_timing)


def session_key(admin_token: str | None) -> bytes:
    if not admin_token:
        return secrets.token_bytes(32)  # nobody can log in anyway
    return hmac.new(admin_token.encode(), SESSION_KEY_LABEL, hashlib.sha256).digest()


def _start_timer() -> None:
    g.started = time.perf_counter()


def _server_timing(response: Response) -> Response:
    """``Server-Timing: app;dur=12.3``: the milliseconds the app spent on the request, shown by
    the browser's developer tools and read by ``bench/pages.py``."""
    if "started" in g:
        elapsed = (time.perf_counter() - g.started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
    return response
