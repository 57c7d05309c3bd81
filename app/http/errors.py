"""Every error leaves as ``{"error": {"code", "message", "details"}}`` with a 4xx/5xx status."""

from __future__ import annotations

import inspect
import json
import logging
import re
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

BODY_METHODS = ("POST", "PUT", "PATCH")
DATABASE_RETRY_AFTER_SECONDS = 5
log = logging.getLogger("orderflow.http")
# No document of ours nests deeper than a few levels; a deeper one is refused before parsing,
# because json.loads (and anything walking the result) recurses once per level.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


class ErrorDetail(BaseModel):
    where: str
    problem: str
    type: str | None = None


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorBody(BaseModel):
    """The shape of every error response, as the OpenAPI document describes it."""

    error: ErrorInfo


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(status: int, code: str, message: str, details: Any = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    response = jsonify({"error": body})
    response.status_code = status
    return response


def validation_error_response(error: ValidationError) -> Response:
    """flask-openapi3 calls this when a request does not match its model."""
    part = _request_part(error.title)
    details = [{"where": ".".join([part, *(str(step) for step in problem["loc"])]),
                "problem": problem["msg"], "type": problem["type"]}
               for problem in error.errors(include_url=False)]
    first = details[0] if details else {"where": part, "problem": "invalid"}
    return error_response(422, "invalid_request",
                          f"{first['where']}: {first['problem']}", details)


def _request_part(model_name: str) -> str:
    """Which part of the request (path, query, body, ...) the failing model describes: the name
    of the view's parameter annotated with that model, since flask-openapi3 does not say."""
    view = current_app.view_functions.get(request.endpoint or "")
    annotations = getattr(inspect.unwrap(view), "__annotations__", {}) if view else {}
    for part, hint in annotations.items():
        if getattr(hint, "__name__", hint) == model_name:
            return str(part)
    return "body"


def _check_json_body() -> Response | None:
    if request.method not in BODY_METHODS or not request.path.startswith("/api/"):
        return None
    if not _takes_a_body():  # an action such as "retry": nothing to check, nothing read
        return None
    raw = request.get_data(cache=True)
    if not raw.strip():
        return error_response(400, "malformed_json", "the body is empty; send a JSON object")
    if not request.is_json:
        return error_response(415, "unsupported_media_type",
                              "send the body as JSON with 'Content-Type: application/json'")
    if json_depth(raw) > MAX_JSON_DEPTH:
        too_deep = f"nested deeper than {MAX_JSON_DEPTH}"
        return error_response(400, "malformed_json", f"the body nests deeper than "
                              f"{MAX_JSON_DEPTH} levels of arrays and objects",
                              [{"where": "body", "problem": too_deep}])
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        where = (f"line {error.lineno}, column {error.colno}"
                 if isinstance(error, json.JSONDecodeError) else "body")
        return error_response(400, "malformed_json", f"the body is not valid JSON ({where})",
                              [{"where": where, "problem": str(error)}])
    if _has_nul(document):
        return error_response(422, "invalid_request", "body: text may not contain NUL characters",
                              [{"where": "body", "problem": "contains a NUL character"}])
    if not isinstance(document, dict):
        # flask-openapi3 would parse a JSON string body a second time, as a document of its own
        return error_response(422, "invalid_request", "body: the body must be a JSON object",
                              [{"where": "body", "problem": "must be a JSON object",
                                "type": "object_type"}])
    return None


def _takes_a_body() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return view is None or "body" in getattr(inspect.unwrap(view), "__annotations__", {})


def _refuse_nul_characters() -> Response | None:
    """A NUL character names nothing and PostgreSQL cannot store it: 404 in a path, 400 in a
    query or form, before any view runs (a JSON body: ``_check_json_body``, 422)."""
    if "\x00" in request.path:
        return error_response(404, "not_found", "no such resource (the path has a NUL character)")
    forms = () if request.path.startswith("/api/") else (("form", request.form),)  # API: JSON
    for where, values in (("query", request.args), *forms):
        for key, value in values.items(multi=True):
            if "\x00" in key or "\x00" in value:
                return error_response(400, "invalid_request", f"{where}.{key}: contains a NUL "
                                      "character", [{"where": f"{where}.{key}",
                                                     "problem": "contains a NUL character"}])
    return None


def json_depth(raw: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest, counted without parsing it (and
    without recursion): brackets inside strings do not count."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub(b"", raw)):
        depth += 1 if bracket.group() in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def _has_nul(document: Any) -> bool:
    """Whether any key or string of a parsed document holds a NUL (walked with a stack)."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str) and "\x00" in value:
            return True
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False


def register(app: Flask) -> None:
    app.before_request(_refuse_nul_characters)
    app.before_request(_check_json_body)

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(OperationalError)
    def _database_unavailable(error: OperationalError) -> Response:
        # the database is down, unreachable or too busy: the client may try again, and the
        # operator reads one line (with the request id), not a traceback per request
        log.error("database unavailable on %s %s: %s", request.method, request.path,
                  str(error.orig).strip().splitlines()[0] if error.orig else error)
        response = error_response(503, "database_unavailable", "the database is not answering; "
                                  "try again shortly")
        response.headers["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        if error.response is not None and error.response.mimetype == "application/json":
            return error.response  # already one of ours (a validation error)
        code = (error.name or "error").lower().replace(" ", "_")
        if error.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            return error_response(413, "body_too_large",
                                  f"the body is larger than the limit of {limit} bytes")
        response = error_response(error.code or 500, code, error.description or code)
        for name, value in error.get_headers():  # Allow on a 405, WWW-Authenticate, ...
            if name.lower() != "content-type":
                response.headers[name] = value
        return response
