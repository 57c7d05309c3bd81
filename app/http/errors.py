"""Every error leaves as RFC 9457 problem details (``application/problem+json``): ``type``,
``title``, ``status``, ``detail``, our ``code``, and ``errors``, one per bad field with where it
is (``in``: body, query, path, header) and its JSON pointer."""

from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from flask import Flask, Response, current_app, g, request
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

BODY_METHODS = ("POST", "PUT", "PATCH")
DATABASE_RETRY_AFTER_SECONDS = 5
PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE = "urn:orderflow:problem:"  # + code; a name, not an address to fetch
REQUEST_PARTS = ("body", "query", "path", "header", "cookie")
log = logging.getLogger("orderflow.http")
# No document of ours nests deeper than a few levels; a deeper one is refused before parsing,
# because json.loads (and anything walking the result) recurses once per level.
MAX_JSON_DEPTH = 32
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


class FieldError(BaseModel):
    """One thing wrong with the request."""

    in_: str = Field(alias="in", description="the request part: body, query, path or header",
                     examples=["body"])
    pointer: str = Field(description="JSON pointer (RFC 6901) to the field within that part; "
                                     "empty for the part as a whole", examples=["/items/0/sku"])
    detail: str = Field(examples=["unknown sku"])
    type: str | None = Field(default=None, description="the validation rule that failed",
                             examples=["missing"])


class Problem(BaseModel):
    """RFC 9457 problem details, the body of every 4xx and 5xx answer."""

    type: str = Field(description="identifies the kind of problem: urn:orderflow:problem:<code>",
                      examples=["urn:orderflow:problem:invalid_request"])
    title: str = Field(examples=["Invalid request"])
    status: int = Field(ge=400, le=599, examples=[422])
    detail: str = Field(examples=["body.items.0.quantity: Input should be greater than 0"])
    code: str = Field(description="the same kind, as a short machine-readable name",
                      examples=["invalid_request"])
    errors: list[FieldError] | None = None
    request_id: str | None = Field(default=None, description="as in the X-Request-ID header "
                                   "and the logs")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(status: int, code: str, message: str, details: Any = None,
                   **members: Any) -> Response:
    """A problem+json answer. ``details``: ``{"where": "body.items.0.sku", "problem": ...,
    "type": ...}`` items, as ApiError takes them; ``members``: extension members of this kind
    of problem."""
    problem: dict[str, Any] = {"type": PROBLEM_TYPE + code, "title": _title(code),
                               "status": status, "detail": message, "code": code, **members}
    if details:
        problem["errors"] = [field_error(**item) for item in details]
    if getattr(g, "request_id", None):
        problem["request_id"] = g.request_id
    return current_app.response_class(json.dumps(problem), status=status, mimetype=PROBLEM_JSON)


def _title(code: str) -> str:
    return code.replace("_", " ").capitalize()


def field_error(where: str, problem: str, type: str | None = None,
                steps: Iterable[object] | None = None) -> dict[str, Any]:
    """``where`` is ``part.field.0.name`` (``body.items.0.sku``), or the part and the exact
    ``steps`` of a validation error; text that names no part (``line 1, column 2``) is about
    the body as a whole, and stays in the detail."""
    part, _, rest = where.partition(".")
    if part not in REQUEST_PARTS:
        part, rest, problem = "body", "", f"{problem} ({where})" if where != "body" else problem
    steps = steps if steps is not None else (rest.split(".") if rest else [])
    item = {"in": part, "pointer": pointer(steps), "detail": problem}
    return item | ({"type": type} if type else {})


def pointer(steps: Iterable[object]) -> str:
    """RFC 6901: ``/items/0/sku``, with ``~`` and ``/`` escaped."""
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in steps)


def validation_error_response(error: ValidationError) -> Response:
    """flask-openapi3 calls this when a request does not match its model."""
    part = _request_part(error.title)
    details = [{"where": ".".join([part, *(str(step) for step in problem["loc"])]),
                "problem": problem["msg"], "type": problem["type"], "steps": problem["loc"]}
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
    """Only a view that reads a body has one to check; a path no route matches is a 404 (or
    405) whatever its body."""
    view = current_app.view_functions.get(request.endpoint or "")
    return view is not None and "body" in getattr(inspect.unwrap(view), "__annotations__", {})


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
        if error.response is not None and error.response.mimetype == PROBLEM_JSON:
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
