"""The dashboard: server-rendered pages (Jinja) over the same functions as the JSON API, with
htmx for live refresh and Mermaid for diagrams (both vendored under ``app/static/vendor``).
Operators log in with the admin token; the session cookie then carries the login, and every
form a CSRF token."""

from __future__ import annotations

import time
from datetime import timedelta

from flask import Flask, Response, g

from app.dashboard import session
from app.dashboard.views import blueprint

LOGIN_LASTS = timedelta(hours=12)  # an operator's working day


def register(app: Flask, secret_key: str, *, cookie_secure: bool = False) -> None:
    """Mount the dashboard. ``secret_key`` signs the session cookie (every worker has the same);
    the login in it is bound to the admin token, so a new token logs everyone out, and names a
    login kept on the server, so logging out ends it. ``cookie_secure``: HTTPS only."""
    app.secret_key = secret_key
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=cookie_secure,
                      SESSION_COOKIE_NAME="orderflow_session",
                      PERMANENT_SESSION_LIFETIME=LOGIN_LASTS)
    app.jinja_env.globals["csrf_token"] = session.csrf_token
    app.register_blueprint(blueprint)
    app.before_request(_start_timer)
    app.after_request(_server_timing)


def _start_timer() -> None:
    g.started = time.perf_counter()


def _server_timing(response: Response) -> Response:
    """``Server-Timing: app;dur=12.3``: the milliseconds the app spent on the request, shown by
    the browser's developer tools and read by ``bench/pages.py``."""
    if "started" in g:
        elapsed = (time.perf_counter() - g.started) * 1000
        response.headers["Server-Timing"] = f"app;dur={elapsed:.1f}"
    return response
