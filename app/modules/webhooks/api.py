"""Webhooks over HTTP, for admins: register a URL (the answer shows its signing secret, once),
list the registered URLs, remove one."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field, StringConstraints, field_validator

from app.config import STYLES
from app.http.auth import require_admin, writes_need_an_admin
from app.http.errors import ApiError, Problem
from app.http.formats import Strict, runtime, timestamp
from app.http.openapi import ADMIN
from app.modules.orders.contracts import STATUSES
from app.modules.webhooks import service
from app.modules.webhooks.models import MAX_URL_LENGTH, Subscription

blueprint = APIBlueprint("webhooks", __name__, url_prefix="/api/webhooks",
                         abp_tags=[Tag(name="webhooks")])
blueprint.before_request(writes_need_an_admin)

Status = Literal[STATUSES]  # type: ignore[valid-type]
Style = Literal[STYLES]  # type: ignore[valid-type]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                       max_length=MAX_URL_LENGTH)]


class WebhookIn(Strict):
    url: Url  # http:// or https://; called as it is, redirects are not followed
    statuses: Annotated[list[Status], Field(min_length=1)] | None = None  # None: every status
    styles: Annotated[list[Style], Field(min_length=1)] | None = None  # None: every style

    @field_validator("url")
    @classmethod
    def _an_address_to_post_to(cls, url: str) -> str:
        return checked_url(url)

    @field_validator("statuses", "styles")
    @classmethod
    def _each_once(cls, values: list[str] | None) -> list[str] | None:
        if values is not None and len(set(values)) != len(values):
            raise ValueError("name each value once")
        return values


class WebhookPath(Strict):
    webhook_id: Annotated[str, StringConstraints(min_length=1, max_length=40)]


class WebhookOut(BaseModel):
    id: str
    url: str
    statuses: list[str] | None
    styles: list[str] | None
    created_at: str


class WebhookCreated(WebhookOut):
    secret: str  # shown once: verify the signatures with it (Standard Webhooks)


class WebhookList(BaseModel):
    items: list[WebhookOut]


def checked_url(url: str) -> str:
    """An absolute http(s) URL naming a host, without credentials or a fragment."""
    if any(ord(character) <= 0x20 or ord(character) == 0x7F for character in url):
        raise ValueError("may not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL naming a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("may not carry a user name or password")
    if parts.fragment:
        raise ValueError("may not have a #fragment")
    try:
        parts.port  # noqa: B018 (urlsplit checks the port only when it is read)
    except ValueError:
        raise ValueError("has a port that is not a number from 0 to 65535") from None
    return url


@blueprint.post("", operation_id="registerWebhook", security=ADMIN,
                responses={201: WebhookCreated, 401: Problem, 403: Problem, 422: Problem})
def register_webhook(body: WebhookIn) -> Any:
    """Register a URL to receive orders' status changes as signed CloudEvents (optionally only
    some statuses, some styles). The answer carries the signing secret; it is not shown again."""
    return register(body), 201


def register(body: WebhookIn) -> dict[str, Any]:
    bus = runtime().bus
    with bus.db.session() as session:
        subscription = service.register(session, url=body.url, statuses=body.statuses,
                                        styles=body.styles, now=bus.clock.now())
        session.commit()
        return {**webhook_view(subscription), "secret": subscription.secret}


@blueprint.get("", operation_id="listWebhooks", security=ADMIN,
               responses={200: WebhookList, 401: Problem, 403: Problem})
def list_webhooks() -> Any:
    """The registered URLs, oldest first, without their secrets."""
    require_admin()
    with runtime().bus.db.reading() as session:
        return {"items": [webhook_view(s) for s in service.listed(session)]}


@blueprint.delete("/<webhook_id>", operation_id="removeWebhook", security=ADMIN,
                  responses={204: None, 401: Problem, 403: Problem, 404: Problem})
def remove_webhook(path: WebhookPath) -> Any:
    """Stop sending to a URL; deliveries to it not yet made are dropped."""
    with runtime().bus.db.session() as session:
        if not service.remove(session, path.webhook_id):
            raise ApiError(404, "webhook_not_found", f"there is no webhook {path.webhook_id!r}")
        session.commit()
    return "", 204


def webhook_view(subscription: Subscription) -> dict[str, Any]:
    return {"id": subscription.id, "url": subscription.url,
            "statuses": service.split(subscription.statuses),
            "styles": service.split(subscription.styles),
            "created_at": timestamp(subscription.created_at)}
