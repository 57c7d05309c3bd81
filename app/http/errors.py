"""Every error leaves as ``{"error": {"code", "message", "details"}}`` with a 4xx/5xx status."""

from __future__ import annotations

import inspect
import json
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

BODY_METHODS = ("POST", "PUT", "PATCH")


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


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    return isinstance(value, list) and any(_has_nul(item) for item in value)


def register(app: Flask) -> None:
    app.before_request(_refuse_nul_characters)
    app.before_request(_check_json_body)

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error.status, error.code, error.message, error.details)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        if error.response is not None and error.response.mimetype == "application/json":
            return error.response  # already one of ours (a validation error)
        code = (error.name or "error").lower().replace(" ", "_")
        if error.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            return error_response(413, "body_too_large",
                                  f"the body is larger than the limit of {limit} bytes")
        return error_response(error.code or 500, code, error.description or code)
