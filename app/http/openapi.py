"""The OpenAPI document. flask-openapi3 builds it from the views' models; this adds what the
library leaves out: how to authenticate, and problem details (``application/problem+json``) as
the body of every error of every operation, including the ones no view lists (a 429, a 503)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask_openapi3 import OpenAPI

from app.http.errors import PROBLEM_JSON

ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
METRICS_READER: list[dict[str, list[str]]] = [{"metricsToken": []}, {"adminToken": []}]
SECURITY_SCHEMES: dict[str, Any] = {
    "adminToken": {"type": "http", "scheme": "bearer",
                   "description": "The admin token: ORDERFLOW_ADMIN_TOKEN, or the one "
                                  "`orderflow init` generated (instance/admin_token)."},
    "metricsToken": {"type": "http", "scheme": "bearer",
                     "description": "ORDERFLOW_METRICS_TOKEN, for a scraper that is no admin."},
}
_SCHEMAS = "#/components/schemas/"
_PROBLEM = {PROBLEM_JSON: {"schema": {"$ref": f"{_SCHEMAS}Problem"}}}


class Api(OpenAPI):
    def generate_spec_json(self) -> None:
        super().generate_spec_json()
        for path_item in self.spec_json["paths"].values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                if not operation.get("parameters") and "requestBody" not in operation:
                    responses.pop("422", None)  # nothing in the request to validate
                errors_as_problems(responses)


def errors_as_problems(responses: dict[str, Any]) -> None:
    """Each documented error answers problem details, and so does any other (``default``)."""
    for status, response in responses.items():
        if kind := _problem_schema(response):
            responses[status] = {"description": _phrase(status),
                                 "content": {PROBLEM_JSON: {"schema": {"$ref": kind}}}}
    responses.setdefault("default", {"description": "Any other error, e.g. 429 (rate limit) or "
                                                    "503 (the database is away)",
                                     "content": _PROBLEM})


def _problem_schema(response: dict[str, Any]) -> str | None:
    """The reference of the problem schema (``Problem`` or a kind of it, ``...Problem``) this
    response was declared with, whether alone or as flask-openapi3's array of them."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    for ref in (schema.get("$ref"), schema.get("items", {}).get("$ref")):
        if ref and ref.startswith(_SCHEMAS) and ref.endswith("Problem"):
            return str(ref)
    return None


def _phrase(status: str) -> str:
    return HTTPStatus(int(status)).phrase if status.isdigit() else "Error"
