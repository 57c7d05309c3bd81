"""The catalogue over HTTP: anyone may read it; an admin sets prices and stock."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.http.auth import writes_need_an_admin
from app.http.errors import Problem
from app.http.formats import Money, Timestamp, cents, money, runtime, timestamp
from app.http.openapi import ADMIN
from app.modules.inventory import service
from app.modules.inventory.models import Item

blueprint = APIBlueprint("catalog", __name__, url_prefix="/api/catalog",
                         abp_tags=[Tag(name="catalog")])
blueprint.before_request(writes_need_an_admin)

MAX_STOCK = 1_000_000


class SkuPath(BaseModel):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=40,
                                          pattern=r"^[A-Za-z0-9._-]+$")]


class CatalogItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"name": "Knock box", "price": "19.00", "stock": 12}]})

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                           max_length=200)] | None = None
    price: Annotated[Decimal, Field(ge=0, le=1_000_000, decimal_places=2,
                                    description="in the shop's currency, e.g. \"24.90\"")]
    stock: Annotated[int, Field(strict=True, ge=0, le=MAX_STOCK)]


class ItemOut(BaseModel):
    sku: str
    name: str
    price: Money
    available: int
    updated_at: Timestamp


class CatalogOut(BaseModel):
    items: list[ItemOut]


@blueprint.get("", operation_id="listCatalog", responses={200: CatalogOut})
def list_catalog() -> Any:
    """Every item with its price and how many are available."""
    with runtime().bus.db.reading() as session:
        return {"items": [item_view(item) for item in service.catalogue(session)]}


@blueprint.put("/<sku>", operation_id="putCatalogItem", security=ADMIN,
               responses={200: ItemOut, 201: ItemOut, 401: Problem, 403: Problem})
def put_item(path: SkuPath, body: CatalogItemIn) -> Any:
    """Set an item's price and stock (admin); creates the item when the sku is new."""
    bus = runtime().bus
    with bus.db.session() as session:
        item, created = service.put_item(session, sku=path.sku, name=body.name,
                                         price_cents=cents(body.price), stock=body.stock,
                                         now=bus.clock.now())
        session.commit()
        return item_view(item), 201 if created else 200


def item_view(item: Item) -> dict[str, Any]:
    return {"sku": item.sku, "name": item.name, "price": money(item.price_cents),
            "available": item.stock, "updated_at": timestamp(item.updated_at)}
