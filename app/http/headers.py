"""Security headers on every response. The dashboard's scripts are files of our own (htmx,
Mermaid, dashboard.js), so scripts need nothing but 'self'; styles allow 'unsafe-inline'
because Mermaid writes a <style> into every diagram and htmx one for its indicators."""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data:", "font-src 'self' data:", "connect-src 'self'",
    "object-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"))
EVERY_RESPONSE = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _secure(response: Response) -> Response:
    for name, value in EVERY_RESPONSE.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith("/static/"):  # pages and answers may name customers
        response.headers["Cache-Control"] = "no-store"
    return response


def register(app: Flask) -> None:
    app.after_request(_secure)
