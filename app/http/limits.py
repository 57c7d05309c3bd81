"""Per-client rate limits (Flask-Limiter, counted in this process's memory): failed credentials
anywhere (a wrong login or Bearer token), the admin API's writes, and order intake. A client
over a limit gets 429 with ``Retry-After``; a limiter that fails lets the request through."""

from __future__ import annotations

import math
import time

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

from app.config import OFF, Settings
from app.http.errors import error_response

INTAKE_ENDPOINT = "orders.place_order"
READS = ("GET", "HEAD", "OPTIONS")
PROBES = ("/healthz", "/readyz")
WRITES = ["POST", "PUT", "PATCH", "DELETE"]


def _probe_or_static() -> bool:
    """Health probes and static files are never locked out: a client that guessed tokens
    must not make a shared address fail the container's health check."""
    return request.path in PROBES or request.path.startswith("/static/")


def _refused(response: Response) -> bool:
    return response.status_code in (401, 403)


def register(app: Flask, settings: Settings) -> Limiter:
    """Before the blueprints: failed credentials are counted app-wide, before any view."""
    if settings.trusted_proxies:  # the client is the address the proxies say, not theirs
        count = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]
    login = [] if settings.rate_limit_login == OFF else [settings.rate_limit_login]
    limiter = Limiter(get_remote_address, app=app, storage_uri="memory://",
                      swallow_errors=True, application_limits=login,
                      application_limits_deduct_when=_refused,
                      application_limits_exempt_when=_probe_or_static)

    @app.errorhandler(RateLimitExceeded)
    def _too_many(error: RateLimitExceeded) -> Response:
        return too_many_requests(error, limiter)

    return limiter


def too_many_requests(error: RateLimitExceeded, limiter: Limiter) -> Response:
    current = limiter.current_limit
    wait = max(1, math.ceil(current.reset_at - time.time())) if current else 1
    response = error_response(429, "too_many_requests", f"too many requests from this address "
                              f"(at most {error.description}); try again in {wait} s")
    response.headers["Retry-After"] = str(wait)
    return response


def limit_views(app: Flask, limiter: Limiter, settings: Settings) -> None:
    """After the blueprints: intake and admin writes, each view wrapped by its limit."""
    admin = (None if settings.rate_limit_admin == OFF
             else limiter.shared_limit(settings.rate_limit_admin, scope="admin", methods=WRITES))
    intake = (None if settings.rate_limit_intake == OFF
              else limiter.limit(settings.rate_limit_intake, methods=["POST"]))
    for rule in app.url_map.iter_rules():
        limit = intake if rule.endpoint == INTAKE_ENDPOINT else admin
        if limit and rule.rule.startswith("/api/") and set(rule.methods or ()) - set(READS):
            app.view_functions[rule.endpoint] = limit(app.view_functions[rule.endpoint])
