"""The webhooks API through Flask's test client: admins only; the secret is shown once; bad
input is a 422 naming the field and registers nothing; the routes are in the OpenAPI document."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import ADMIN_HEADERS
from tests.shop import error_code

WEBHOOKS = "/api/webhooks"
URL = "https://shop.example/hooks/orderflow?source=orders"


def registered(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get(WEBHOOKS, headers=ADMIN_HEADERS)
    assert response.status_code == 200
    return response.get_json()["items"]


def register(client: FlaskClient, **body: Any) -> dict[str, Any]:
    response = client.post(WEBHOOKS, json={"url": URL, **body}, headers=ADMIN_HEADERS)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_a_registration_answers_its_secret_once(client: FlaskClient) -> None:
    made = register(client, statuses=["delivered", "cancelled"], styles=["hybrid"])

    assert made["id"].startswith("wh_") and made["url"] == URL
    assert (made["statuses"], made["styles"]) == (["delivered", "cancelled"], ["hybrid"])
    assert made["secret"].startswith("whsec_")
    assert len(base64.b64decode(made["secret"].removeprefix("whsec_"))) == 32
    assert registered(client) == [{key: value for key, value in made.items()
                                   if key != "secret"}]


def test_every_registration_has_its_own_secret_and_no_filter_means_everything(
        client: FlaskClient) -> None:
    first, second = register(client), register(client)

    assert first["secret"] != second["secret"] and first["id"] != second["id"]
    assert (first["statuses"], first["styles"]) == (None, None)
    assert [webhook["id"] for webhook in registered(client)] == [first["id"], second["id"]]


def test_a_removed_webhook_is_no_longer_listed(client: FlaskClient) -> None:
    kept, removed = register(client), register(client)

    response = client.delete(f"{WEBHOOKS}/{removed['id']}", headers=ADMIN_HEADERS)
    again = client.delete(f"{WEBHOOKS}/{removed['id']}", headers=ADMIN_HEADERS)

    assert response.status_code == 204 and response.get_data() == b""
    assert again.status_code == 404 and error_code(again.get_json()) == "webhook_not_found"
    assert [webhook["id"] for webhook in registered(client)] == [kept["id"]]


@pytest.mark.parametrize(("method", "path"), [("POST", WEBHOOKS), ("GET", WEBHOOKS),
                                              ("DELETE", f"{WEBHOOKS}/wh_anything")])
def test_only_an_admin_may_see_or_change_webhooks(client: FlaskClient, method: str,
                                                 path: str) -> None:
    body = {"url": URL} if method == "POST" else None
    anonymous = client.open(path, method=method, json=body)
    wrong = client.open(path, method=method, json=body,
                        headers={"Authorization": "Bearer not-the-admin-token"})

    assert (anonymous.status_code, wrong.status_code) == (401, 403)
    assert registered(client) == []


@pytest.mark.parametrize(("field", "body"), [
    ("url", {"url": "ftp://shop.example/hooks"}),
    ("url", {"url": "shop.example/hooks"}),
    ("url", {"url": "http://"}),
    ("url", {"url": "https://user:password@shop.example/hooks"}),
    ("url", {"url": "https://shop.example/hooks#part"}),
    ("url", {"url": "https://shop.example:99999/hooks"}),
    ("url", {"url": "https://shop.example/a hook"}),
    ("url", {"url": "https://shop.example/" + "h" * 2000}),
    ("url", {"url": ""}),
    ("url", {}),
    ("statuses", {"url": URL, "statuses": ["shipped"]}),
    ("statuses", {"url": URL, "statuses": []}),
    ("statuses", {"url": URL, "statuses": ["paid", "paid"]}),
    ("styles", {"url": URL, "styles": ["solo"]}),
    ("secret", {"url": URL, "secret": "whsec_mine"}),
])
def test_bad_input_is_a_422_naming_the_field_and_registers_nothing(
        client: FlaskClient, field: str, body: dict[str, Any]) -> None:
    response = client.post(WEBHOOKS, json=body, headers=ADMIN_HEADERS)

    assert response.status_code == 422, response.get_json()
    assert error_code(response.get_json()) == "invalid_request"
    assert field in response.get_data(as_text=True)
    assert registered(client) == []


def test_the_webhook_routes_are_in_the_openapi_document(client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    paths = document["paths"]

    assert {"get", "post"} <= set(paths[WEBHOOKS])
    assert "delete" in paths[f"{WEBHOOKS}/{{webhook_id}}"]
    created = paths[WEBHOOKS]["post"]["responses"]["201"]["content"]["application/json"]
    name = created["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "secret" in document["components"]["schemas"][name]["properties"]
